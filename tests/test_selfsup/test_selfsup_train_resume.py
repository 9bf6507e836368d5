"""tools/train.py with the tiny SkySense V2 recipe on generated GeoTIFFs: every loss term is
finite and logged, and --resume from a mid-run checkpoint continues the same run."""

import glob
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs/skysense_v2/skysense-v2_tiny_1xb2-cpu-300it_geo-demo.py'
TERMS = ('loss_mgcl', 'loss_qsacl', 'loss_gcpl', 'loss_ita', 'loss_moe')


def _train(work_dir, data_root, text, max_iters, resume=None):
    cmd = [
        sys.executable,
        str(REPO / 'tools/train.py'),
        str(CONFIG),
        '--work-dir',
        str(work_dir),
        '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        f'model.ita_head.loss.text_embeddings={text}',
        f'train_cfg.max_iters={max_iters}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=2',
        # no warm-up, so that two iterations move the weights measurably
        'param_scheduler.0.start_factor=1.0',
        'param_scheduler.0.end=1',
        'param_scheduler.1.begin=1',
        'param_scheduler.1.T_max=10',
        # a fast teacher, so that a teacher not restored on resume would show
        '--hook-options',
        'TeacherMomentumHook.base_momentum=0.5',
    ]
    if resume:
        cmd += ['--resume', str(resume)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _scalars(work_dir):
    rows = []
    for path in sorted(glob.glob(str(Path(work_dir) / '*' / 'vis_data' / 'scalars.json'))):
        rows += [json.loads(line) for line in open(path)]
    return {r['iter']: r for r in rows if 'loss' in r}


@pytest.mark.slow
def test_tiny_recipe_trains_and_resumes(tmp_path):
    from mmskysense.datasets.geo.synthetic import generate_geo_dataset

    data = tmp_path / 'geo'
    generate_geo_dataset(str(data), num_samples=3, seed=0, num_s2_dates=4, num_s1_dates=3)
    gen = REPO / 'tools/misc/gen_text_embeddings.py'
    text = tmp_path / 'text.pth'
    subprocess.run(
        [sys.executable, str(gen), str(text), '--backend', 'random', '--dims', '16'],
        check=True,
        cwd=REPO,
        capture_output=True,
    )

    full = tmp_path / 'full'
    _train(full, data, text, max_iters=4)
    logs = _scalars(full)
    assert sorted(logs) == [1, 2, 3, 4]
    for it, row in logs.items():
        for key in TERMS + ('mgcl_pixel_hr', 'mgcl_object_s2', 'mgcl_image_s1', 'qsacl_g2l'):
            assert key in row and math.isfinite(row[key]), (it, key)
        assert any(k.startswith('expert_load.') for k in row)
        assert row['loss'] == pytest.approx(sum(row[k] for k in TERMS), rel=1e-4)

    resumed = tmp_path / 'resumed'
    proc = _train(resumed, data, text, max_iters=4, resume=full / 'iter_2.pth')
    assert 'resumed' in (proc.stdout + proc.stderr).lower()
    logs2 = _scalars(resumed)
    assert sorted(logs2) == [3, 4]
    saved = torch.load(full / 'iter_2.pth', map_location='cpu', weights_only=False)
    assert saved['meta']['iter'] == 2
    assert any(k.startswith('teacher.backbone.') for k in saved['state_dict'])
    assert 'gcpl_head.loss_module.prototypes' in saved['state_dict']
    # the resumed run sees the same batches (the loop skips the trained ones) and starts from
    # the saved student, teacher, centres, prototypes and optimizer: it ends where the
    # uninterrupted run ends, and both moved well away from iteration 2
    end_full = torch.load(full / 'iter_4.pth', map_location='cpu', weights_only=False)
    end_resumed = torch.load(resumed / 'iter_4.pth', map_location='cpu', weights_only=False)
    moved = dict(teacher=0.0, student=0.0)
    for key, ref in end_full['state_dict'].items():
        got = end_resumed['state_dict'][key]
        if not torch.is_floating_point(ref):
            assert torch.equal(got, ref), key
            continue
        gap = (got - ref).abs().max().item()
        step = (ref - saved['state_dict'][key]).abs().max().item()
        assert gap <= 1e-5 + 0.02 * step, (key, gap, step)
        net = key.split('.')[0]
        if net in ('teacher', 'backbone'):  # the two backbones
            net = 'teacher' if net == 'teacher' else 'student'
            moved[net] = max(moved[net], step)
    # both backbones changed between iterations 2 and 4 by far more than the tolerance
    assert moved['teacher'] > 1e-4 and moved['student'] > 1e-4, moved
    for it in (3, 4):
        for key in TERMS:
            assert logs2[it][key] == pytest.approx(logs[it][key], rel=1e-2, abs=1e-4), (it, key)
