"""mmengine 0.10.7 checkpoints load on torch >= 2.6 (mmskysense.compat.checkpoint_loading),
with ``weights_only=True`` and an allowlist: anything else in a checkpoint is refused."""

import os
import pickle

import numpy as np
import pytest
import torch
from foundation_testing import run_python
from mmengine.logging import MessageHub


def _runner_like_checkpoint(path):
    # what Runner.save_checkpoint writes besides tensors: a message hub and numpy scalars in meta
    hub = MessageHub.get_instance('test_compat_checkpoint')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_info('iter', 7)
    torch.save(
        dict(
            meta=dict(iter=7, seed=np.int64(3)),
            message_hub=hub.state_dict(),
            state_dict=dict(w=torch.ones(2)),
        ),
        path,
    )


def test_plain_torch_load_refuses_mmengine_checkpoint(tmp_path):
    """The trap itself: torch's default weights_only=True refuses mmengine's objects."""
    path = tmp_path / 'ckpt.pth'
    _runner_like_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_mmengine_loader_reads_it_with_mmskysense(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint

    import mmskysense  # noqa: F401  (installs the patch)

    path = tmp_path / 'ckpt.pth'
    _runner_like_checkpoint(path)
    ckpt = _load_checkpoint(str(path), map_location='cpu')
    assert ckpt['meta']['iter'] == 7 and int(ckpt['meta']['seed']) == 3
    assert ckpt['message_hub']['log_scalars']['train/loss'].current() == 0.5
    torch.testing.assert_close(ckpt['state_dict']['w'], torch.ones(2))


def test_mmengine_loader_fails_without_the_patch(tmp_path):
    path = tmp_path / 'ckpt.pth'
    _runner_like_checkpoint(path)
    proc = run_python(
        'from mmengine.runner.checkpoint import _load_checkpoint\n'
        f'_load_checkpoint({str(path)!r}, map_location="cpu")',
        check=False,
    )
    assert proc.returncode != 0 and 'UnpicklingError' in proc.stderr


def test_truncated_checkpoint_error_names_the_file(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint

    import mmskysense  # noqa: F401

    path = tmp_path / 'half.pth'
    _runner_like_checkpoint(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match='half.pth'):
        _load_checkpoint(str(path), map_location='cpu')


class _RunsCode:
    def __reduce__(self):
        return (os.getcwd, ())


def test_objects_outside_the_allowlist_are_refused_unless_trusted(tmp_path, monkeypatch):
    from mmengine.runner.checkpoint import _load_checkpoint

    import mmskysense  # noqa: F401

    path = tmp_path / 'other.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(2)), extra=_RunsCode()), path)
    with pytest.raises(
        pickle.UnpicklingError, match=r'(?s)other\.pth .*MMSKYSENSE_TRUST_CHECKPOINTS'
    ):
        _load_checkpoint(str(path), map_location='cpu')
    # getattr is allowed for HistoryBuffer's statistics methods only
    from mmskysense.compat.checkpoint_loading import _history_buffer_method

    with pytest.raises(pickle.UnpicklingError, match='not allowed in a checkpoint'):
        _history_buffer_method(os, 'system')
    monkeypatch.setenv('MMSKYSENSE_TRUST_CHECKPOINTS', '1')
    assert _load_checkpoint(str(path), map_location='cpu')['extra'] == os.getcwd()


def test_patch_waits_for_mmengine_checkpoint_module():
    code = """
import sys
import mmskysense
assert "mmengine.runner.checkpoint" not in sys.modules
from mmengine.runner.checkpoint import CheckpointLoader
print(CheckpointLoader._schemes[""].__module__)
"""
    assert 'mmskysense.compat.checkpoint_loading' in run_python(code).stdout
