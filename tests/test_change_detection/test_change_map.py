"""Change maps from two GeoTIFFs: overlap of grids offset by a window, georeferencing, nodata,
tiled == untiled, bad input; through the API and tools/infer_change_map.py."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from fake_releases.change_detection import levir_pair
from helpers.change_toys import pixelwise_change_detector
from rasterio.transform import Affine

from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules

register_all_modules()
REPO = Path(__file__).resolve().parents[2]
GSD = 0.5
ORIGIN = (400000.0, 3300000.0)
# scene 2's origin, in scene 1's pixels (rows down, cols right): a window offset
OFFSET = (12, 20)
SIZE1, SIZE2 = (200, 180), (176, 196)


def _write(path, data, transform, crs='EPSG:32614', nodata=0):
    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        height=data.shape[1],
        width=data.shape[2],
        count=data.shape[0],
        dtype=data.dtype.name,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(data)
    return str(path)


def make_scene_pair(folder, crs2='EPSG:32614', offset=OFFSET, gsd2=GSD):
    """Two RGB GeoTIFFs cut with different windows from one larger pair with planted new
    buildings, each with a nodata hole (all bands 0)."""
    rng = np.random.default_rng(0)
    big = max(SIZE1[0], offset[0] + SIZE2[0]), max(SIZE1[1], offset[1] + SIZE2[1])
    a, b, _ = levir_pair(max(big), rng, new=6, old=6)
    a, b = np.maximum(a, 1), np.maximum(b, 1)  # 0 is the nodata value
    d1 = a[: SIZE1[0], : SIZE1[1]].transpose(2, 0, 1).copy()
    d2 = (
        b[offset[0] : offset[0] + SIZE2[0], offset[1] : offset[1] + SIZE2[1]]
        .transpose(2, 0, 1)
        .copy()
    )
    d1[:, 30:50, 40:70] = 0
    d2[:, 100:120, 10:30] = 0
    t1 = Affine(GSD, 0, ORIGIN[0], 0, -GSD, ORIGIN[1])
    t2 = Affine(gsd2, 0, ORIGIN[0] + offset[1] * GSD, 0, -gsd2, ORIGIN[1] - offset[0] * GSD)
    return (
        _write(Path(folder) / 'date1.tif', d1, t1),
        _write(Path(folder) / 'date2.tif', d2, t2, crs=crs2),
    )


def _pixelwise_model_files(tmp_path):
    cfg, model = pixelwise_change_detector(3, 120.0, 60.0)
    return _save(tmp_path, cfg, model)


def _save(tmp_path, cfg, model):
    config = tmp_path / 'model_config.py'
    cfg.dump(str(config))
    ckpt = tmp_path / 'model.pth'
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=['unchanged', 'changed'])),
        ),
        ckpt,
    )
    return str(config), str(ckpt)


def _tool_main(name):
    spec = importlib.util.spec_from_file_location(name, REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _cli_main():
    return _tool_main('infer_change_map')


def _expected_grid(date1):
    with rasterio.open(date1) as src:
        t = src.transform @ Affine.translation(OFFSET[1], OFFSET[0])
    height = min(SIZE1[0], OFFSET[0] + SIZE2[0]) - OFFSET[0]
    width = min(SIZE1[1], OFFSET[1] + SIZE2[1]) - OFFSET[1]
    return t, (height, width)


def _overlap_arrays(date1, date2):
    """Both dates on the overlap grid, cut from the whole files with the known offset."""
    with rasterio.open(date1) as s1, rasterio.open(date2) as s2:
        d1, d2 = s1.read().astype(np.float32), s2.read().astype(np.float32)
    _, (h, w) = _expected_grid(date1)
    return d1[:, OFFSET[0] : OFFSET[0] + h, OFFSET[1] : OFFSET[1] + w], d2[:, :h, :w]


def _expected_valid(date1, date2):
    """Both dates hold data (independently of the module's windows and masks)."""
    d1, d2 = _overlap_arrays(date1, date2)
    return (d1 != 0).any(0) & (d2 != 0).any(0)


def test_cli_tiled_equals_untiled_for_a_pixelwise_model(tmp_path):
    date1, date2 = make_scene_pair(tmp_path)
    config, ckpt = _pixelwise_model_files(tmp_path)
    main = _cli_main()
    tiled, whole = tmp_path / 'tiled.tif', tmp_path / 'whole.tif'
    main(
        [
            config,
            ckpt,
            date1,
            date2,
            str(tiled),
            '--tile',
            '48',
            '--overlap',
            '16',
            '--batch-size',
            '3',
        ]
    )
    main(
        [config, ckpt, date1, date2, str(whole), '--tile', '512', '--overlap', '0', '--no-preview']
    )
    transform, shape = _expected_grid(date1)
    with rasterio.open(tiled) as t, rasterio.open(whole) as w, rasterio.open(date1) as s1:
        assert t.crs == w.crs == s1.crs
        assert t.transform == w.transform == transform
        assert (t.height, t.width) == (w.height, w.width) == shape
        assert t.nodata == 255
        a, b = t.read(1), w.read(1)
    # tolerance: none. A pixel-wise model's probabilities are the same in every tile, and the
    # blending averages equal values, so the arg-max may not move
    np.testing.assert_array_equal(a, b)
    valid = _expected_valid(date1, date2)
    assert (~valid).any() and (a[~valid] == 255).all()
    assert set(np.unique(a[valid])) == {0, 1}
    assert (tmp_path / 'tiled.png').stat().st_size > 1000
    assert not list(tmp_path.glob('*.partial'))


def test_cli_script_with_the_bit_detector(tmp_path):
    """The tiny BIT detector of the LEVIR-CD config through the script (random weights: the
    georeferencing and nodata are checked, not the change)."""
    from mmengine.config import Config

    date1, date2 = make_scene_pair(tmp_path)
    config = REPO / 'configs/skysense_v2_cd/bit_skysense-v2-huge_8xb4-40k_levir-cd-256x256.py'
    options = [
        'model.backbone.arch=tiny',
        'model.backbone.init_cfg=None',
        'model.decode_head.in_channels=[64,128,256,512]',
        'model.decode_head.dec_depth=2',
    ]
    cfg = Config.fromfile(str(config))  # the same model as the options make in the script
    cfg.model.backbone.arch = 'tiny'
    cfg.model.backbone.init_cfg = None
    cfg.model.decode_head.in_channels = [64, 128, 256, 512]
    cfg.model.decode_head.dec_depth = 2
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    _, ckpt = _save(tmp_path, cfg, model)
    out = tmp_path / 'out' / 'change.tif'
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / 'tools/infer_change_map.py'),
            str(config),
            ckpt,
            date1,
            date2,
            str(out),
            '--tile',
            '64',
            '--overlap',
            '16',
            '--cfg-options',
            *options,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    transform, shape = _expected_grid(date1)
    with rasterio.open(out) as dst:
        assert dst.crs == rasterio.crs.CRS.from_string('EPSG:32614')
        assert dst.transform == transform and (dst.height, dst.width) == shape
        classes = dst.read(1)
    valid = _expected_valid(date1, date2)
    assert (classes[~valid] == 255).all() and set(np.unique(classes[valid])) <= {0, 1}
    assert out.with_suffix('.png').stat().st_size > 1000


def _local_predict(tiles):
    a, b = tiles[:, :3].float(), tiles[:, 3:].float()
    changed = ((a - b).abs().mean(1) > 40).float()
    return torch.stack([1 - changed, changed], 1) * 0.8 + 0.1


def test_windows_of_the_two_grids_are_aligned(tmp_path):
    # a thresholded difference is exact where the dates' pixels are paired right; one pixel
    # of misalignment would move the edges of every field and building
    from mmskysense.apis import change_map_geotiff

    date1, date2 = make_scene_pair(tmp_path)
    with pytest.warns(FutureWarning, match='block is no longer used'):  # the old signature
        out = change_map_geotiff(
            _local_predict,
            (date1, date2),
            str(tmp_path / 'c.tif'),
            tile=40,
            overlap=8,
            block=56,
            batch_size=2,
            progress=False,
        )
    d1, d2 = _overlap_arrays(date1, date2)
    expected = (np.abs(d1 - d2).mean(0) > 40).astype(np.uint8)
    expected[~_expected_valid(date1, date2)] = 255
    with rasterio.open(out) as dst:
        np.testing.assert_array_equal(dst.read(1), expected)
    assert 0.01 < (expected == 1).mean() < 0.5


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(crs2='EPSG:32615'), 'different CRS'),
        (dict(gsd2=1.0), 'differ in pixel width'),
        (dict(offset=(400, 20)), 'do not overlap'),
    ],
)
def test_scenes_that_cannot_be_paired_are_refused(tmp_path, kwargs, message):
    from mmskysense.apis import change_map_geotiff

    date1, date2 = make_scene_pair(tmp_path, **kwargs)
    with pytest.raises(ValueError, match=message) as err:
        change_map_geotiff(_local_predict, (date1, date2), str(tmp_path / 'x.tif'), progress=False)
    assert 'date1.tif' in str(err.value) and 'date2.tif' in str(err.value)
    assert not list(tmp_path.glob('*.partial')) and not (tmp_path / 'x.tif').exists()


def test_fractional_offset_band_count_and_missing_file(tmp_path):
    from mmskysense.apis import change_map_geotiff

    date1, date2 = make_scene_pair(tmp_path)
    with rasterio.open(date2, 'r+') as src:  # shift scene 2 by a third of a pixel
        src.transform = src.transform @ Affine.translation(1 / 3, 0)
    with pytest.raises(ValueError, match=r'offset by .* not a whole number'):
        change_map_geotiff(_local_predict, (date1, date2), str(tmp_path / 'x.tif'), progress=False)
    two_bands = _write(
        tmp_path / 'two.tif',
        np.ones((2, 20, 20), np.uint8),
        Affine(GSD, 0, ORIGIN[0], 0, -GSD, ORIGIN[1]),
    )
    with pytest.raises(ValueError, match=r'date1\.tif has 3 bands and .*two\.tif 2'):
        change_map_geotiff(
            _local_predict, (date1, two_bands), str(tmp_path / 'x.tif'), progress=False
        )
    with pytest.raises(FileNotFoundError, match='nope.tif'):
        change_map_geotiff(
            _local_predict,
            (date1, str(tmp_path / 'nope.tif')),
            str(tmp_path / 'x.tif'),
            progress=False,
        )


def test_cli_refuses_a_truncated_or_missing_date_naming_it(tmp_path):
    """Checked before the model is loaded (the checkpoint here does not even exist)."""
    date1, date2 = make_scene_pair(tmp_path)
    raw = Path(date2).read_bytes()
    truncated = tmp_path / 'cut.tif'
    truncated.write_bytes(raw[: len(raw) // 2])
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    main = _cli_main()
    for path, says in (
        (truncated, 'truncated: its TIFF blocks end at byte'),
        (tmp_path / 'nope.tif', 'file does not exist'),
    ):
        with pytest.raises(SystemExit) as info:
            main(['cfg.py', 'no.pth', date1, str(path), str(out_dir / 'c.tif')])
        message = str(info.value)
        assert f'{path}: {says}' in message and 'date 2 of the change pair' in message, message
        assert list(out_dir.iterdir()) == []


def test_the_scene_cli_takes_a_change_detector_as_a_two_date_series(tmp_path):
    """tools/infer_large_scene.py derives a change pair from LoadImagePair (two dates, defined
    where both hold data) and gives the map of tools/infer_change_map.py."""
    from mmengine.config import Config

    from mmskysense.apis.scene import scene_spec_from_config

    date1, date2 = make_scene_pair(tmp_path)
    config, ckpt = _pixelwise_model_files(tmp_path)
    cfg = Config.fromfile(config)
    cfg.test_pipeline = [dict(type='LoadImagePair', num_bands=3)]
    pair_config = tmp_path / 'pair_config.py'
    cfg.dump(str(pair_config))
    ref = scene_spec_from_config(cfg)
    assert (ref.reference.num_dates, ref.reference.channels, ref.valid_dates) == (2, 3, 'all')
    spec = importlib.util.spec_from_file_location(
        'infer_large_scene', REPO / 'tools' / 'infer_large_scene.py'
    )
    scene_cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scene_cli)
    args = ['--tile', '48', '--overlap', '16', '--no-preview', '--quiet']
    _cli_main()([config, ckpt, date1, date2, str(tmp_path / 'pair.tif'), *args])
    scene_cli.main([str(pair_config), ckpt, date1, date2, str(tmp_path / 'scene.tif'), *args])
    with rasterio.open(tmp_path / 'pair.tif') as a, rasterio.open(tmp_path / 'scene.tif') as b:
        assert a.transform == b.transform == _expected_grid(date1)[0]
        np.testing.assert_array_equal(a.read(1), b.read(1))
        assert (a.read(1) == 255).any()


@pytest.mark.parametrize(
    'regrid, says',
    [
        ('pixel size', r'differ in pixel width \(0\.5 vs 1\.0\)'),
        ('offset', r'offset by \(12\.000, 20\.333\) pixels .* not a whole number'),
    ],
)
def test_a_pair_on_other_grids_is_refused_before_the_model_is_loaded(tmp_path, regrid, says):
    """The exact-grid policy, through the one CLI and its alias: a change pair is never
    resampled; both files are named; the model loader is never called."""
    date1, date2 = make_scene_pair(tmp_path, gsd2=1.0 if regrid == 'pixel size' else GSD)
    if regrid == 'offset':
        with rasterio.open(date2, 'r+') as src:  # a third of a pixel east
            src.transform = src.transform @ Affine.translation(1 / 3, 0)
    config, ckpt = _pixelwise_model_files(tmp_path)
    calls = []

    def recording_loader(*args):
        calls.append(args)
        raise AssertionError('the model was loaded before the pair was checked')

    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    for main in (_tool_main('infer_large_scene'), _cli_main()):
        with pytest.raises(SystemExit) as info:
            main([config, ckpt, date1, date2, str(out_dir / 'c.tif')], recording_loader)
        message = str(info.value)
        assert date1 in message and date2 in message, message
        assert re.search(says, message), message
    assert calls == [] and list(out_dir.iterdir()) == []


def test_the_same_detector_gives_the_same_map_through_the_cli_and_its_alias(tmp_path):
    date1, date2 = make_scene_pair(tmp_path)
    config, ckpt = _pixelwise_model_files(tmp_path)
    args = ['--tile', '40', '--overlap', '12', '--confidence', '--no-preview', '--quiet']
    scene, alias = tmp_path / 'scene.tif', tmp_path / 'alias.tif'
    _tool_main('infer_large_scene')([config, ckpt, date1, date2, str(scene), *args])
    _cli_main()([config, ckpt, date1, date2, str(alias), *args])
    with rasterio.open(scene) as a, rasterio.open(alias) as b:
        assert a.profile == b.profile and a.tags() == b.tags()
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.transform == _expected_grid(date1)[0]


def _tiny_bit(cfg, checkpoint, device):
    """The LEVIR-CD config's BIT detector at the tiny size, random weights (the tool's
    ``load_model``)."""
    cfg.model.backbone.arch = 'tiny'
    cfg.model.backbone.init_cfg = None
    cfg.model.decode_head.in_channels = [64, 128, 256, 512]
    cfg.model.decode_head.dec_depth = 2
    register_all_modules()
    torch.manual_seed(0)
    return MODELS.build(cfg.model).eval(), dict(classes=['unchanged', 'changed'])


def test_png_pair_without_georeference(tmp_path, capsys):
    """A LEVIR-CD PNG pair (no CRS, no geotransform) through the change tool: accepted with a
    note, the change map on the photos' pixel grid without CRS, saying so, and its polygons in
    the pixel CRS (x = column, y = -row), never taken for longitude / latitude."""
    import json
    import runpy

    from fake_releases.change_detection import make_levir_cd

    root = make_levir_cd(str(tmp_path / 'LEVIR-CD'), pairs=dict(test=1), size=96)
    a, b = (str(Path(root) / 'test' / d / 'test_1.png') for d in ('A', 'B'))
    ckpt = tmp_path / 'unused.pth'
    ckpt.write_bytes(b'0')
    tool = runpy.run_path(str(REPO / 'tools' / 'infer_change_map.py'))
    out, vec = tmp_path / 'change.tif', tmp_path / 'change.geojson'
    config = REPO / 'configs/skysense_v2_cd/bit_skysense-v2-huge_8xb4-40k_levir-cd-256x256.py'
    argv = [str(config), str(ckpt), a, b, str(out), '--tile', '64', '--overlap', '16']
    tool['main'](
        [*argv, '--vector', str(vec), '--no-preview'],
        load_model=_tiny_bit,
    )
    printed = capsys.readouterr().out
    assert f'note: {a}: no georeference' in printed and 'pixel space' in printed
    with rasterio.open(out) as dst:  # random weights: the grid is checked, not the change
        assert dst.crs is None and dst.shape == (96, 96)
        assert 'pixel grid of the input' in dst.tags()['GEOREFERENCE']
        assert set(np.unique(dst.read(1))) <= {0, 1}
    fc = json.loads(vec.read_text())
    assert fc['mmskysense']['coordinates'] == 'pixel'
    crs = rasterio.crs.CRS.from_user_input(fc['crs']['properties']['name'])
    assert not crs.is_geographic and 'no georeference' in crs.to_wkt()
    ys = [y for f in fc['features'] for _, y in f['geometry']['coordinates'][0]]
    assert min(ys) >= -96 and max(ys) <= 0  # y = -row
    # a pair of different sizes cannot be placed pixel on pixel: refused naming the file
    small = tmp_path / 'small.png'
    import cv2

    cv2.imwrite(str(small), np.zeros((80, 96, 3), np.uint8))
    with pytest.raises(SystemExit, match=r'small.png: is 80 x 96 px but .*test_1.png is 96 x 96'):
        tool['main']([str(config), str(ckpt), a, str(small), str(tmp_path / 'x.tif')])
