"""A real two-process data-parallel training (gloo) through tools/dist_train.sh."""

import sys

import torch
from foundation_testing import REPO, run
from helpers.network import free_port


def test_two_process_training_ends_with_identical_weights(tmp_path, toy_config):
    proc = run(
        ['bash', REPO / 'tools/dist_train.sh', toy_config, 2, '--work-dir', tmp_path],
        PORT=free_port(),
        PYTHON=sys.executable,  # the suite's interpreter, also in a checkout without .venv/
        timeout=600,
    )
    assert 'gloo' in proc.stdout + proc.stderr  # the run reports the backend it used
    ends = [torch.load(tmp_path / f'end_rank{r}.pth', weights_only=False) for r in (0, 1)]
    starts = [torch.load(tmp_path / f'start_rank{r}.pth', weights_only=False) for r in (0, 1)]
    for r in (0, 1):
        assert ends[r]['world_size'] == 2
        assert ends[r]['iter'] == 12
    # both ranks trained (weights moved) and hold the same weights at the end
    moved = False
    for k, v in ends[0]['params'].items():
        torch.testing.assert_close(ends[1]['params'][k], v, rtol=0, atol=0)
        moved |= not torch.equal(v, starts[0]['params'][k])
    assert moved, 'the weights did not change during training'
