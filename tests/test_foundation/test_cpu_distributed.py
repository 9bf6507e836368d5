"""Distributed start-up without GPUs (mmskysense.engine.cpu_distributed)."""

import socket

import pytest
import torch
from foundation_testing import run_python

needs_no_gpu = pytest.mark.skipif(
    torch.cuda.is_available(), reason='the CPU path only matters where no GPU is visible'
)


def _env(port):
    return dict(RANK=0, WORLD_SIZE=1, LOCAL_RANK=0, MASTER_ADDR='127.0.0.1', MASTER_PORT=port)


def _port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@needs_no_gpu
def test_mmengine_init_dist_fails_without_gpu():
    proc = run_python(
        'from mmengine.dist import init_dist\ninit_dist("pytorch", backend="gloo")',
        check=False,
        **_env(_port()),
    )
    assert proc.returncode != 0


@needs_no_gpu
def test_init_cpu_distributed_starts_gloo_and_adapts_config():
    code = """
import torch.distributed as dist
from mmengine.config import Config
from mmskysense.engine.cpu_distributed import init_cpu_distributed
cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend="nccl")), find_unused_parameters=True))
init_cpu_distributed("pytorch", cfg)
assert dist.is_initialized() and dist.get_backend() == "gloo", dist.get_backend()
assert cfg.env_cfg.dist_cfg.backend == "gloo"
w = cfg.model_wrapper_cfg
assert w.type == "MMDistributedDataParallel" and w.device_ids is None, w
assert w.find_unused_parameters is True and w.broadcast_buffers is False, w
print("OK")
"""
    proc = run_python(code, **_env(_port()))
    assert 'OK' in proc.stdout


@needs_no_gpu
def test_slurm_environment_without_gpus():
    code = """
import os, torch.distributed as dist
from mmskysense.engine.cpu_distributed import init_cpu_distributed
init_cpu_distributed("slurm")
assert dist.get_rank() == 0 and dist.get_world_size() == 1
assert os.environ["LOCAL_RANK"] == "0"
print("OK")
"""
    proc = run_python(
        code,
        SLURM_PROCID=0,
        SLURM_NTASKS=1,
        SLURM_NODELIST='localhost',
        SLURM_LOCALID=0,
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=_port(),
    )
    assert 'OK' in proc.stdout


@needs_no_gpu
def test_missing_launcher_environment_is_explained():
    proc = run_python(
        'from mmskysense.engine.cpu_distributed import init_cpu_distributed\n'
        'init_cpu_distributed("pytorch")',
        check=False,
    )
    assert proc.returncode != 0
    assert 'RANK' in proc.stderr and 'launcher' in proc.stderr


def test_nothing_happens_without_a_launcher():
    from mmengine.config import Config

    from mmskysense.engine.cpu_distributed import init_cpu_distributed

    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    init_cpu_distributed('none', cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg
