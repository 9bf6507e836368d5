"""tools/train.py trains, stops, and --resume continues from the saved iteration and optimizer."""

import sys

import torch
from foundation_testing import REPO, run


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def test_resume_continues_from_saved_iteration_and_optimizer(tmp_path, toy_config):
    train = [sys.executable, REPO / 'tools/train.py', toy_config]

    # uninterrupted reference: 12 iterations
    ref_dir = tmp_path / 'ref'
    run(train + ['--work-dir', ref_dir])
    ref_end = _load(ref_dir / 'end_rank0.pth')
    assert ref_end['iter'] == 12

    # interrupted: the job dies after iteration 6 (a checkpoint is written at 6), then resumes
    work = tmp_path / 'work'
    interrupted = toy_config.with_name('toy_regression_interrupted.py')
    proc = run(
        [sys.executable, REPO / 'tools/train.py', interrupted, '--work-dir', work], check=False
    )
    assert proc.returncode != 0 and 'interrupted after iteration 6' in proc.stderr
    assert not (work / 'end_rank0.pth').exists()
    saved = _load(work / 'iter_6.pth')
    assert saved['meta']['iter'] == 6
    proc = run(train + ['--work-dir', work, '--resume'])
    assert 'resumed' in (proc.stdout + proc.stderr).lower()

    start = _load(work / 'start_rank0.pth')
    assert start['iter'] == 6, 'training did not restart at the saved iteration'
    # the optimizer state right after resuming is the saved one (AdamW moments and step count)
    saved_state = saved['optimizer']['state']
    start_state = start['optimizer']['state']
    assert saved_state.keys() == start_state.keys() and len(saved_state) > 0
    for k in saved_state:
        for name in ('exp_avg', 'exp_avg_sq', 'step'):
            torch.testing.assert_close(start_state[k][name], saved_state[k][name])
    # the learning rate schedule resumed too (MultiStepLR milestone at 8 halves the lr)
    end = _load(work / 'end_rank0.pth')
    assert end['iter'] == 12
    assert (
        end['optimizer']['param_groups'][0]['lr'] == ref_end['optimizer']['param_groups'][0]['lr']
    )

    # and the resumed run ends where the uninterrupted one does
    for k, v in ref_end['params'].items():
        torch.testing.assert_close(end['params'][k], v, rtol=1e-5, atol=1e-6)


def test_resume_from_missing_checkpoint_is_an_error(tmp_path, toy_config):
    proc = run(
        [
            sys.executable,
            REPO / 'tools/train.py',
            toy_config,
            '--work-dir',
            tmp_path,
            '--resume',
            tmp_path / 'nope.pth',
        ],
        check=False,
    )
    assert proc.returncode != 0
    assert 'nope.pth' in proc.stderr
