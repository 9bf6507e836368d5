"""Sharded checkpoints read without holding them (issue 29): a directory in FSDP2Strategy's layout
is written here by two processes (gloo, DTensor shards split unevenly along several dims, plain
buffers written by both ranks) from a known state; the converted file, the in-memory reading and
a model loaded from the directory must equal that state exactly, and the converted file must be
the one torch's ``dcp_to_torch_save`` gives (same keys in the same order), a valid zip, written
under the memory budget and never left half-written."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from helpers.network import free_port
from torch import nn

from mmskysense.engine.strategies import convert_sharded_checkpoint, load_sharded_checkpoint
from mmskysense.models.utils import load_weights, parameters_on_meta, read_checkpoint

# each rank saves its shards of the known state as FSDP2 does (get_model_state_dict gives
# DTensors for parameters and plain tensors for buffers; the optimiser's moments are sharded
# like their parameters, its step is plain)
WORKER = r"""
import os, sys, torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Shard, distribute_tensor
ref = torch.load(sys.argv[1], weights_only=False)
dist.init_process_group('gloo')
mesh = init_device_mesh('cpu', (2,))
def shard(name, t):
    dim = ref['dims'].get(name)
    return t if dim is None else distribute_tensor(t, mesh, [Shard(dim)])
model = {k: shard(k, v) for k, v in ref['state_dict'].items()}
moments = {
    k: {m: (v if m == 'step' else shard(k, v)) for m, v in s.items()}
    for k, s in ref['optimizer']['state'].items()
}
optim = dict(state=moments, param_groups=ref['optimizer']['param_groups'])
state = dict(state_dict=model, optimizer=optim)
dcp.save(state, checkpoint_id=sys.argv[2])
if dist.get_rank() == 0:
    torch.save(ref['extra'], os.path.join(sys.argv[2], 'extra.pth'))
# both ranks done before either tears gloo down: a rank that destroys its group while the other
# still runs can abort the other at exit ("terminate called without an active exception")
dist.barrier()
dist.destroy_process_group()
# gloo's threads can still abort the interpreter's teardown under load (seen again with the
# barrier, on a loaded 2-core machine); the files are written and closed: leave without it
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"""


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(7, 5)
        self.experts = nn.Parameter(torch.empty(4, 3, 2))
        self.scale = nn.Parameter(torch.empty(3, dtype=torch.bfloat16))
        self.register_buffer('index', torch.arange(4))


class Toy(nn.Module):
    """Student, teacher and a buffer outside both, as the pretraining model."""

    def __init__(self):
        super().__init__()
        self.backbone = Block()
        self.teacher = nn.ModuleDict(dict(backbone=Block()))
        self.register_buffer('center', torch.zeros(1, 4))


#: the dimension each parameter is split along (FSDP2's shard_dim: 5 rows and 3 experts' rows
#: split unevenly over 2 ranks)
DIMS = {'proj.weight': 0, 'proj.bias': 0, 'experts': 1, 'scale': 0}


def _reference() -> dict:
    g = torch.Generator().manual_seed(0)
    model = Toy()
    state = {}
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            state[k] = torch.randn(v.shape, generator=g).to(v.dtype)
        else:
            state[k] = torch.randint(0, 100, v.shape, generator=g)
    dims = {
        k: d
        for k, d in ((k, DIMS.get(k.split('backbone.', 1)[-1])) for k in state)
        if d is not None
    }
    params = [k for k, _ in model.named_parameters() if not k.startswith('teacher.')]
    moments = {
        k: dict(
            step=torch.tensor(7.0),
            exp_avg=torch.randn(state[k].shape, generator=g),
            exp_avg_sq=torch.rand(state[k].shape, generator=g),
        )
        for k in params
    }
    groups = [dict(lr=1e-3, weight_decay=0.05, params=params)]
    extra = dict(
        meta=dict(iter=7, epoch=0, seed=3, state_dict_type='sharded'),
        message_hub=dict(runtime_info=dict(iter=7), counts=torch.arange(3)),
        param_schedulers=[dict(base_lrs=[1e-3], last_step=7)],
    )
    return dict(
        state_dict=state, dims=dims, optimizer=dict(state=moments, param_groups=groups), extra=extra
    )


@pytest.fixture(scope='module')
def sharded(tmp_path_factory):
    root = tmp_path_factory.mktemp('sharded')
    ref = _reference()
    torch.save(ref, root / 'ref.pth')
    src = root / 'iter_7.pth'
    env = dict(os.environ, MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()), WORLD_SIZE='2')
    env['OMP_NUM_THREADS'] = '1'
    procs = [
        subprocess.Popen(
            [sys.executable, '-c', WORKER, str(root / 'ref.pth'), str(src)],
            env=dict(env, RANK=str(r), LOCAL_RANK=str(r)),
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(2)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    assert sorted(f for f in os.listdir(src) if f.endswith('.distcp')) == [
        '__0_0.distcp',
        '__1_0.distcp',
    ]
    return dict(src=str(src), ref=ref)


def _assert_equal(got, want, where=''):
    """Exact equality of nested checkpoints: same keys, types, dtypes and values."""
    if isinstance(want, torch.Tensor):
        assert isinstance(got, torch.Tensor), where
        assert got.dtype == want.dtype and got.shape == want.shape, where
        assert torch.equal(got, want), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (where, set(got) ^ set(want))
        for k in want:
            _assert_equal(got[k], want[k], f'{where}.{k}')
    elif isinstance(want, list | tuple):
        assert len(got) == len(want), where
        for i, (a, b) in enumerate(zip(got, want)):
            _assert_equal(a, b, f'{where}[{i}]')
    else:
        assert got == want, where


def _expected(ref: dict, with_optimizer: bool) -> dict:
    want = dict(ref['extra'], state_dict=ref['state_dict'])
    want['meta'] = dict(want['meta'], state_dict_type='full')
    if with_optimizer:
        want['optimizer'] = ref['optimizer']
    return want


def _dcp_to_torch_save(src, tmp_path) -> dict:
    """Today's reference of the joined shards: torch's own converter, every key."""
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    dcp_to_torch_save(src, tmp_path / 'joined.pth')
    return torch.load(tmp_path / 'joined.pth', weights_only=False)


@pytest.mark.parametrize('with_optimizer', [False, True])
def test_conversion_under_a_budget_equals_the_saved_state(
    sharded, tmp_path, monkeypatch, with_optimizer
):
    import torch.distributed.checkpoint as dcp

    loads = []
    load = dcp.load

    def counting(state, **kwargs):
        loads.append(
            sum(v.numel() * v.element_size() for v in state.values() if isinstance(v, torch.Tensor))
        )
        return load(state, **kwargs)

    monkeypatch.setattr(dcp, 'load', counting)
    budget = 100  # bytes: groups of a few small tensors, the larger ones alone
    dst = tmp_path / 'out' / 'iter_7_full.pth'
    returned = convert_sharded_checkpoint(
        sharded['src'], str(dst), with_optimizer=with_optimizer, max_memory_gb=budget / 2**30
    )
    monkeypatch.undo()
    largest = max(v.numel() * v.element_size() for v in sharded['ref']['state_dict'].values())
    assert len(loads) > 3 and max(loads) <= max(budget, largest), loads
    ckpt = torch.load(dst, weights_only=False)  # read, not mapped
    want = _expected(sharded['ref'], with_optimizer)
    _assert_equal(ckpt, want)
    _assert_equal(returned, want)
    # the keys and their order of torch's converter (what sharded_to_full wrote before)
    joined = _dcp_to_torch_save(sharded['src'], tmp_path)
    assert list(ckpt['state_dict']) == list(joined['state_dict'])
    assert list(ckpt) == [
        *sharded['ref']['extra'],
        'state_dict',
        *(['optimizer'] if with_optimizer else []),
    ]
    with zipfile.ZipFile(dst) as zf:  # every record's CRC-32 set
        assert zf.testzip() is None
    assert os.listdir(dst.parent) == [dst.name]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert dst.stat().st_mode & 0o777 == 0o666 & ~umask  # as a file torch.save creates


def test_a_failed_conversion_leaves_no_file(sharded, tmp_path, monkeypatch):
    import torch.distributed.checkpoint as dcp

    dst = tmp_path / 'iter_7_full.pth'
    dst.write_bytes(b'the previous file')
    calls = []
    load = dcp.load

    def failing(state, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError('disk gone')
        return load(state, **kwargs)

    monkeypatch.setattr(dcp, 'load', failing)
    with pytest.raises(OSError, match='disk gone'):
        convert_sharded_checkpoint(sharded['src'], str(dst), max_memory_gb=100 / 2**30)
    assert dst.read_bytes() == b'the previous file'
    assert os.listdir(tmp_path) == [dst.name]


def test_the_directory_read_directly_equals_the_saved_state(sharded):
    _assert_equal(load_sharded_checkpoint(sharded['src']), _expected(sharded['ref'], False))
    _assert_equal(read_checkpoint(sharded['src']), _expected(sharded['ref'], False))
    _assert_equal(
        load_sharded_checkpoint(sharded['src'], with_optimizer=True),
        _expected(sharded['ref'], True),
    )


def test_a_model_built_without_weights_takes_the_directorys(sharded):
    with parameters_on_meta():
        model = Toy()
    report = load_weights(model, sharded['src'], strict=True, assign=True)
    assert not report['missing_keys'] and not report['unexpected_keys'], report
    _assert_equal(dict(model.state_dict()), sharded['ref']['state_dict'])
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.filterwarnings('ignore:torch.distributed is disabled')
def test_a_directory_that_is_not_a_sharded_checkpoint_is_named(sharded, tmp_path):
    (tmp_path / 'extra.pth').write_bytes(b'')
    with pytest.raises(FileNotFoundError, match=rf'{tmp_path}.*without \.metadata'):
        read_checkpoint(str(tmp_path))
    with pytest.raises(
        FileNotFoundError, match=rf'{tmp_path / "nope"} is not a sharded.*not a directory'
    ):
        convert_sharded_checkpoint(str(tmp_path / 'nope'), str(tmp_path / 'x.pth'))
    with pytest.raises(ValueError, match='max_memory_gb'):
        convert_sharded_checkpoint(sharded['src'], str(tmp_path / 'x.pth'), max_memory_gb=0)
    assert not (tmp_path / 'x.pth').exists()
    # shards without the model's section (an optimiser alone)
    import torch.distributed.checkpoint as dcp

    alone = tmp_path / 'optimizer_only'
    dcp.save(dict(optimizer=dict(state=dict(w=torch.ones(2)))), checkpoint_id=alone, no_dist=True)
    torch.save(dict(meta=dict(iter=1)), alone / 'extra.pth')
    with pytest.raises(ValueError, match=rf"{alone}: .*no 'state_dict' entry.*\['optimizer'\]"):
        convert_sharded_checkpoint(str(alone), str(tmp_path / 'x.pth'))
    assert not (tmp_path / 'x.pth').exists()


def test_the_command_line_tool(sharded, tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'tools/model_converters'))
    from sharded_to_full import main as sharded_to_full

    dst = tmp_path / 'full.pth'
    sharded_to_full([sharded['src'], str(dst), '--with-optimizer', '--max-memory-gb', '1e-7'])
    assert 'iteration 7' in capsys.readouterr().out
    _assert_equal(torch.load(dst, weights_only=False), _expected(sharded['ref'], True))
    with pytest.raises(SystemExit, match=rf'{tmp_path} is not a sharded checkpoint directory'):
        sharded_to_full([str(tmp_path), str(tmp_path / 'y.pth')])
