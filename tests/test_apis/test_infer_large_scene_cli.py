"""tools/infer_large_scene.py with a real SkySense V2 UperNet on a generated GeoTIFF scene."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio
import torch

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs/demo/upernet_skysense-v2-tiny_1xb4-300it_geo-demo-128x128.py'


def test_cli_writes_georeferenced_class_map_and_preview(tmp_path):
    from mmengine.config import Config

    from mmskysense.datasets.geo.synthetic import generate_sample
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    scene = generate_sample(
        str(tmp_path / 'scene'),
        np.random.default_rng(0),
        hr_size=320,
        num_s2_dates=1,
        num_s1_dates=1,
    )
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'seg.pth'
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=list(cfg.class_names), palette=cfg.palette)),
        ),
        ckpt,
    )
    out = tmp_path / 'out' / 'classes.tif'
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='2')
    proc = subprocess.run(
        [
            sys.executable,
            REPO / 'tools/infer_large_scene.py',
            CONFIG,
            ckpt,
            Path(scene['folder']) / 'hr.tif',
            out,
            '--tile',
            '128',
            '--overlap',
            '32',
            '--batch-size',
            '3',
            '--cfg-options',
            'model.backbone.init_cfg=None',
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    with rasterio.open(Path(scene['folder']) / 'hr.tif') as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.transform == src.transform
        assert (dst.width, dst.height, dst.count) == (src.width, src.height, 1)
        img_valid = (src.read_masks() > 0).any(0)
        classes = dst.read(1)
    assert (classes[~img_valid] == 255).all() and (~img_valid).any()
    assert set(np.unique(classes[img_valid])) <= set(range(4))
    assert out.with_suffix('.png').stat().st_size > 1000
    assert not list(out.parent.glob('*.partial'))
