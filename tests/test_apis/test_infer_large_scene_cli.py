"""tools/infer_large_scene.py over every input kind (one raster, a series, modalities on their
own grids), checking the output's CRS and transform, and over broken rasters, checking that the
message names the file and that no output is left behind."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from helpers.modules import REPO, load_module
from rasterio.transform import from_origin

toys = load_module('scene_toys', Path(__file__).with_name('scene_toys.py'))
cli = load_module('infer_large_scene', REPO / 'tools' / 'infer_large_scene.py')
CONFIG = toys.DEMO_CONFIG


_save = toys.save_checkpoint


@pytest.fixture(scope='module')
def demo_checkpoint(tmp_path_factory):
    return toys.demo_checkpoint(tmp_path_factory.mktemp('ckpt') / 'seg.pth')


def _no_partial(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if 'partial' in p.name]


def test_single_raster_in_a_subprocess(tmp_path, demo_checkpoint):
    from mmskysense.datasets.geo.synthetic import generate_sample

    scene = generate_sample(
        str(tmp_path / 'scene'),
        np.random.default_rng(0),
        hr_size=256,
        num_s2_dates=1,
        num_s1_dates=1,
    )
    hr = Path(scene['folder']) / 'hr.tif'
    out = tmp_path / 'out' / 'classes.tif'
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='2')
    proc = subprocess.run(
        [
            sys.executable,
            REPO / 'tools/infer_large_scene.py',
            CONFIG,
            demo_checkpoint,
            hr,
            out,
            '--tile',
            '128',
            '--overlap',
            '0',
            '--batch-size',
            '4',
            '--confidence',
            '--quiet',
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
    assert 'computed once' in proc.stdout
    with rasterio.open(hr) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.transform == src.transform
        assert (dst.width, dst.height, dst.count) == (src.width, src.height, 2)
        assert dst.tags(ns='IMAGE_STRUCTURE').get('LAYOUT') == 'COG'
        img_valid = (src.read_masks() > 0).any(0)
        classes = dst.read(1)
    assert (classes[~img_valid] == 255).all() and (~img_valid).any()
    assert set(np.unique(classes[img_valid])) <= set(range(4))
    assert out.with_suffix('.png').stat().st_size > 1000
    _no_partial(out.parent)


def _s2_series(folder: Path, dates, shift=None, size=48):
    """One 12-band Sentinel-2 file per date (10 m); ``shift`` (date index, cols, rows) moves
    that date's grid east and south by whole pixels."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    paths, stack = [], []
    for t, date in enumerate(dates):
        data = rng.integers(100, 4000, (12, size, size)).astype(np.uint16)
        data[:, 40:, 40:] = 0  # no data in a corner, every date
        origin = (toys.X0, toys.Y0)
        if shift is not None and shift[0] == t:
            origin = (toys.X0 + 10 * shift[1], toys.Y0 - 10 * shift[2])
        name = folder / f'S2_{date.replace("-", "")}.tif'
        paths.append(
            toys.write_raster(name, data, 10.0, origin, nodata=0, tags=dict(ACQUISITION_DATE=date))
        )
        stack.append(data)
    return paths, np.concatenate(stack)


def test_series_one_file_per_date_or_one_multi_date_file(tmp_path):
    """Dyna.-S2's config (TemporalEncoderDecoder, LoadTimeSeries: 6 dates of bands
    2-9, 11, 12) with the tiny backbone; 3 dates given, padded to 6 masked ones."""
    sys.path.insert(0, str(REPO / 'tests' / 'test_downstream'))
    tiny = load_module('downstream_tiny', REPO / 'tests/test_downstream/downstream_tiny.py')
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()

    cfg = tiny.tiny_config('dynamic_earthnet_s2', str(tmp_path / 'none'), str(tmp_path / 'w'))
    cfg_path = tmp_path / 'dyna_s2_tiny.py'
    cfg.dump(str(cfg_path))
    torch.manual_seed(0)
    ckpt = _save(MODELS.build(cfg.model), tmp_path / 's2.pth', [f'c{i}' for i in range(6)])
    dates = ['2021-03-01', '2021-04-01', '2021-05-01']
    files, stack = _s2_series(tmp_path / 'dates', dates)
    multi = toys.write_raster(
        tmp_path / 's2_stack.tif',
        stack,
        10.0,
        nodata=0,
        tags=dict(ACQUISITION_DATES=','.join(dates)),
    )
    args = ['--tile', '32', '--overlap', '8', '--no-preview', '--quiet']
    outs = {}
    for kind, inputs in (('per_date', files), ('multi_date', [multi])):
        outs[kind] = tmp_path / f'{kind}.tif'
        cli.main([str(cfg_path), ckpt, *inputs, str(outs[kind]), *args])
    with rasterio.open(files[0]) as src, rasterio.open(outs['per_date']) as a:
        assert a.crs == src.crs and a.transform == src.transform and a.shape == src.shape
        with rasterio.open(outs['multi_date']) as b:
            assert b.crs == src.crs and b.transform == src.transform
            np.testing.assert_array_equal(a.read(1), b.read(1))  # the same dates, as read
        classes = a.read(1)
    assert (classes[40:, 40:] == 255).all() and (classes[:40, :40] < 6).all()

    # a date on a grid moved by whole pixels: the output covers the pixels every date has
    shifted, _ = _s2_series(tmp_path / 'shifted', dates, shift=(1, 3, 2))
    out = tmp_path / 'shifted.tif'
    cli.main([str(cfg_path), ckpt, *shifted, str(out), *args])
    with rasterio.open(out) as c:
        assert c.transform == from_origin(toys.X0 + 30, toys.Y0 - 20, 10.0, 10.0)
        assert c.shape == (46, 45)
    _no_partial(tmp_path)


def test_modalities_on_their_own_grids(tmp_path):
    """HR at 0.5 m, a Sentinel-2 series (one file per date) and a Sentinel-1 multi-date file
    at 10 m on other grids, into a multi-modal model (the dict-in contract)."""
    size = 256
    rng = np.random.default_rng(2)
    hr = rng.integers(1, 255, (3, size, size), dtype=np.uint8)
    hr[:, :32, 64:96] = 0  # no data
    hr_path = toys.write_raster(tmp_path / 'hr.tif', hr, 0.5, nodata=0)
    s2 = []
    for t, date in enumerate(['20210301', '20210402', '20210503']):
        data = rng.integers(100, 4000, (10, 15, 15)).astype(np.uint16)
        path = tmp_path / f'S2_{date}.tif'
        s2.append(toys.write_raster(path, data, 10.0, (toys.X0 + 20, toys.Y0 + 10), nodata=0))
    s1 = rng.normal(-15, 4, (4, 15, 15)).astype(np.float32)
    s1_path = toys.write_raster(
        tmp_path / 's1.tif',
        s1,
        10.0,
        (toys.X0 - 5, toys.Y0 + 5),
        nodata=float('nan'),
        tags=dict(ACQUISITION_DATES='2021-03-05,2021-04-10'),
    )
    cfg_path = tmp_path / 'toy_mm.py'
    cfg_path.write_text(
        "default_scope = 'mmskysense'\n"
        "model = dict(type='ToyMultiModalSegmentor', num_classes=3)\n"
        'scene_inputs = [\n'
        "    dict(name='hr', bands=[1, 2, 3]),\n"
        "    dict(name='s2', num_dates=3, bands=list(range(1, 11)), scale=1 / 8),\n"
        "    dict(name='s1', num_dates=2, bands=[1, 2], scale=1 / 8),\n"
        ']\n'
    )
    from mmskysense.utils import register_all_modules

    register_all_modules()
    torch.manual_seed(0)
    ckpt = _save(toys.ToyMultiModalSegmentor(3), tmp_path / 'mm.pth', ['a', 'b', 'c'])
    out = tmp_path / 'mm.tif'
    cli.main(
        [
            str(cfg_path),
            ckpt,
            f'hr={hr_path}',
            's2=' + ','.join(s2),
            f's1={s1_path}',
            str(out),
            '--tile',
            '64',
            '--overlap',
            '16',
            '--batch-size',
            '2',
            '--quiet',
        ]
    )
    with rasterio.open(out) as dst:
        assert dst.crs == rasterio.crs.CRS.from_string(toys.CRS)
        # the S2 files start 20 m (40 HR px) east of the HR scene: the output starts there
        assert dst.transform == from_origin(toys.X0 + 20, toys.Y0, 0.5, 0.5)
        assert dst.shape == (size, size - 40)
        classes = dst.read(1)
    hole = np.zeros((size, size - 40), dtype=bool)
    hole[:32, 24:56] = True
    np.testing.assert_array_equal(classes == 255, hole)
    assert (tmp_path / 'mm.png').exists()
    _no_partial(tmp_path)


def _broken_rasters(folder: Path):
    """missing, empty, truncated, not a raster, and data that fails to decode mid-run."""
    good = Path(toys.hr_scene(folder / 'good.tif', size=512))
    raw = good.read_bytes()
    cases = {
        'missing': (folder / 'missing.tif', 'file does not exist'),
        'empty': (folder / 'empty.tif', r'file is empty \(0 bytes\)'),
        'truncated': (folder / 'truncated.tif', 'truncated: its TIFF blocks end at byte'),
        'not_a_raster': (folder / 'notes.tif', 'not a raster GDAL can read'),
        'corrupt_data': (folder / 'corrupt.tif', r'read failed at rows \d+\.\.\d+'),
    }
    cases['empty'][0].write_bytes(b'')
    cases['truncated'][0].write_bytes(raw[: len(raw) * 2 // 3])
    cases['not_a_raster'][0].write_text('{"type": "FeatureCollection", "features": []}\n')
    with rasterio.open(good) as src:
        offset = int(src.get_tag_item('BLOCK_OFFSET_1_1', 'TIFF', bidx=1))
    corrupt = bytearray(raw)
    corrupt[offset : offset + 64] = b'\xff' * 64  # the last tile's deflate stream
    cases['corrupt_data'][0].write_bytes(bytes(corrupt))
    return cases


def test_broken_rasters_name_the_file_and_leave_no_output(tmp_path, demo_checkpoint):
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    for name, (path, says) in _broken_rasters(tmp_path).items():
        out = out_dir / f'{name}.tif'
        argv = [
            str(CONFIG),
            demo_checkpoint,
            str(path),
            str(out),
            '--tile',
            '256',
            '--overlap',
            '0',
            '--quiet',
            '--cfg-options',
            'model.backbone.init_cfg=None',
        ]
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        message = str(info.value)
        assert re.search(re.escape(str(path)) + ': ' + says, message), (name, message)
        assert 'expected' in message or name == 'corrupt_data', message
        assert list(out_dir.iterdir()) == [], name  # no output, no temporary, no preview
