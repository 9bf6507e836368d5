"""Tiled large-scene segmentation: each tile once, the old block algorithm's class map, a COG
with its confidence, nodata, bounded carry-over, failure safety."""

import hashlib
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from helpers.geotiff import write_geotiff, write_geotiff_like
from rasterio.crs import CRS

from mmskysense.apis import segment_geotiff
from mmskysense.apis.scene import blend_window
from mmskysense.datasets.raster import RasterError
from mmskysense.visualization import write_preview

NUM_CLASSES = 3
REPO = Path(__file__).resolve().parents[2]


def _reference():
    """The block algorithm used before issue 15 (tests/references/reference_large_scene.py): its own
    grid and blend window, none of the code under test."""
    spec = importlib.util.spec_from_file_location(
        'reference_large_scene', REPO / 'tests' / 'references' / 'reference_large_scene.py'
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scene(path, h, w, nodata_boxes=(), seed=0, count=3):
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 255, size=(count, h, w), dtype=np.uint8)
    for y0, y1, x0, x1 in nodata_boxes:
        data[:, y0:y1, x0:x1] = 0
    write_geotiff(path, data, res=0.3, crs=CRS.from_epsg(32633), nodata=0)
    return data


def _pixelwise_predict(tiles):
    # a per-pixel model: its tiled output must equal its untiled output exactly
    x = tiles.float()
    logits = torch.stack([x[:, 0] - x[:, 1], x[:, 1] - x[:, 2], x[:, 2] - x[:, 0]], dim=1)
    return logits.softmax(1)


class _ContextPredict:
    """Depends on the whole tile (its mean): blending order and tile positions matter; records
    every tile it computes."""

    def __init__(self):
        self.seen = []

    def __call__(self, tiles):
        for t in tiles:
            self.seen.append(hashlib.sha1(t.numpy().tobytes()).hexdigest())
        x = tiles.float()
        m = x.mean(dim=(2, 3), keepdim=True)
        return torch.cat([x - m, m - x], 1)[:, :NUM_CLASSES].softmax(1)


def _read(path, band=1):
    with rasterio.open(path) as f:
        return f.read(band)


def test_output_has_input_crs_transform_and_pixelwise_result(tmp_path):
    src = tmp_path / 'scene.tif'
    data = _scene(src, 150, 230, nodata_boxes=[(10, 30, 200, 230)])
    out = tmp_path / 'classes.tif'
    segment_geotiff(
        _pixelwise_predict, str(src), str(out), NUM_CLASSES, tile=64, overlap=16, progress=False
    )
    with rasterio.open(src) as a, rasterio.open(out) as b:
        assert b.crs == a.crs and b.transform == a.transform
        assert (b.height, b.width) == (a.height, a.width)
        assert b.nodata == 255
        classes = b.read(1)
    expected = _pixelwise_predict(torch.from_numpy(data)[None])[0].argmax(0).numpy()
    nodata = (data == 0).all(0)
    np.testing.assert_array_equal(classes[~nodata], expected[~nodata])
    assert (classes[nodata] == 255).all() and nodata.sum() == 20 * 30


@pytest.mark.parametrize(
    'tile,overlap',
    [(64, 16), (50, 20), (40, 30), (48, 0)],  # 40/30: each pixel in up to 16 tiles
)
def test_each_tile_once_and_the_old_block_algorithms_class_map(tmp_path, tile, overlap):
    ref = _reference()
    src = tmp_path / 'scene.tif'
    # a nodata band as tall as a tile row (whole tiles without data) and a nodata corner
    data = _scene(src, 140, 171, nodata_boxes=[(50, 110, 0, 171), (0, 20, 0, 30)])
    old = tmp_path / 'old.tif'
    ref.segment_geotiff_blocks(
        _ContextPredict(),
        str(src),
        str(old),
        NUM_CLASSES,
        tile=tile,
        overlap=overlap,
        progress=False,
    )
    grid = ref.TileGrid(140, 171, tile, overlap)
    th, tw = min(tile, 140), min(tile, 171)
    needed = [
        (r, c)
        for r in grid.rows
        for c in grid.cols
        if (data[:, r : r + th, c : c + tw] != 0).any(0).any()
    ]
    for carry_mb in (256, 0):  # carry-over in memory, and in a temporary file
        predict = _ContextPredict()
        new = tmp_path / f'new{carry_mb}.tif'
        segment_geotiff(
            predict,
            str(src),
            str(new),
            NUM_CLASSES,
            tile=tile,
            overlap=overlap,
            batch_size=3,
            progress=False,
            carry_mb=carry_mb,
        )
        assert len(predict.seen) == len(needed)  # tiles computed / tiles needed = 1
        assert len(set(predict.seen)) == len(needed)  # none twice
        np.testing.assert_array_equal(_read(new), _read(old))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ['new0.tif', 'new256.tif', 'old.tif', 'scene.tif']  # no temporary left


def test_cog_with_overviews_and_confidence(tmp_path):
    src = tmp_path / 'scene.tif'
    data = _scene(src, 700, 1100, nodata_boxes=[(0, 40, 0, 60)])
    out = tmp_path / 'classes.tif'
    segment_geotiff(
        _pixelwise_predict,
        str(src),
        str(out),
        NUM_CLASSES,
        tile=256,
        overlap=64,
        batch_size=4,
        progress=False,
        confidence=True,
        class_names=['a', 'b', 'c'],
        palette=[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
    )
    with rasterio.open(out) as f:
        assert f.tags(ns='IMAGE_STRUCTURE').get('LAYOUT') == 'COG'
        assert f.profile['tiled'] and f.block_shapes[0] == (512, 512)
        assert f.overviews(1)[:1] == [2]  # overviews down to the tile size
        assert f.descriptions == ('class', 'confidence')
        assert f.tags()['CLASSES'] == 'a,b,c'
        assert f.colormap(1)[1][:3] == (0, 255, 0)
        classes, conf = f.read(1), f.read(2)
    probs = _pixelwise_predict(torch.from_numpy(data)[None])[0]
    nodata = (data == 0).all(0)
    assert (conf[nodata] == 255).all() and (classes[nodata] == 255).all()
    expected = torch.round(probs.max(0).values * 100).numpy()
    # the blend of equal probabilities equals them up to rounding: at most 1 percent apart
    assert np.abs(conf[~nodata].astype(int) - expected[~nodata]).max() <= 1
    assert conf[~nodata].min() >= 33 and conf[~nodata].max() <= 100


def test_blend_window_is_positive_and_tapers():
    w = blend_window(16, 16, 4)
    assert (w > 0).all()
    assert w[8, 8] == 1 and w[0, 0] < w[2, 2] < w[8, 8]


def test_failure_leaves_no_output_file(tmp_path):
    src = tmp_path / 'scene.tif'
    _scene(src, 100, 100)
    calls = []

    def failing(tiles):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError('device lost')
        return _pixelwise_predict(tiles)

    out = tmp_path / 'classes.tif'
    with pytest.raises(RuntimeError, match='device lost'):
        segment_geotiff(
            failing,
            str(src),
            str(out),
            NUM_CLASSES,
            tile=32,
            overlap=8,
            batch_size=1,
            progress=False,
            carry_mb=0,
        )
    assert list(tmp_path.iterdir()) == [src]


def test_bad_inputs(tmp_path):
    missing = str(tmp_path / 'missing.tif')
    with pytest.raises(FileNotFoundError, match=re.escape(missing) + ': file does not exist'):
        segment_geotiff(_pixelwise_predict, missing, str(tmp_path / 'o.tif'), 3, progress=False)
    junk = tmp_path / 'junk.tif'
    junk.write_bytes(b'not a tiff at all')
    with pytest.raises(RasterError, match=re.escape(str(junk)) + ': not a raster'):
        segment_geotiff(_pixelwise_predict, str(junk), str(tmp_path / 'o.tif'), 3, progress=False)
    src = tmp_path / 'scene.tif'
    _scene(src, 40, 40)
    with pytest.raises(RasterError, match=r'scene.tif: has 3 bands per date, expected at least 5'):
        segment_geotiff(
            _pixelwise_predict,
            str(src),
            str(tmp_path / 'o.tif'),
            3,
            bands=[1, 2, 5],
            progress=False,
        )
    with pytest.raises(ValueError, match='the model gave'):
        segment_geotiff(
            lambda t: _pixelwise_predict(t)[:, :2],
            str(src),
            str(tmp_path / 'o.tif'),
            3,
            tile=32,
            overlap=0,
            progress=False,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ['junk.tif', 'scene.tif']


def test_preview_has_legend(tmp_path):
    src = tmp_path / 'scene.tif'
    _scene(src, 80, 120, nodata_boxes=[(0, 10, 0, 10)])
    out = tmp_path / 'classes.tif'
    segment_geotiff(
        _pixelwise_predict, str(src), str(out), NUM_CLASSES, tile=32, overlap=8, progress=False
    )
    png = write_preview(
        str(out), str(tmp_path / 'p.png'), ['water', 'trees', 'roofs'], image_path=str(src)
    )
    from PIL import Image

    img = Image.open(png)
    assert img.size[0] > 100 and img.size[1] > 100


def test_classification_map_from_a_scene_classifier(tmp_path):
    """An mmpretrain classifier over tiles (no overlap): each tile of the map holds the class the
    classifier gives that tile alone."""
    from mmskysense.apis.scene import ModalityInput, SceneInputs, SceneSpec, segment_scene
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='mmpretrain.ImageClassifier',
            data_preprocessor=dict(
                type='mmpretrain.ClsDataPreprocessor', mean=[120.0] * 3, std=[60.0] * 3
            ),
            backbone=dict(
                type='SkySenseV2SingleModal',
                arch='tiny',
                modality='hr',
                out_indices=(3,),
            ),
            neck=dict(type='mmpretrain.GlobalAveragePooling'),
            head=dict(
                type='mmpretrain.LinearClsHead',
                num_classes=4,
                in_channels=256,
                loss=dict(type='mmpretrain.CrossEntropyLoss'),
            ),
        )
    ).eval()
    src = tmp_path / 'scene.tif'
    data = _scene(src, 96, 128)
    out = tmp_path / 'classes.tif'
    spec = SceneSpec([ModalityInput('hr', bands=[1, 2, 3])])
    with SceneInputs.open(spec, dict(hr=str(src))) as scene:
        result = segment_scene(model, scene, str(out), 4, tile=32, overlap=0, progress=False)
    assert (result.stats.computed, result.stats.total) == (12, 12)
    classes = _read(out)
    with torch.no_grad():
        for r in range(0, 96, 32):
            for c in range(0, 128, 32):
                x = torch.from_numpy(data[:, r : r + 32, c : c + 32].astype(np.float32))
                logits = model((x[None] - 120) / 60, mode='tensor')
                assert (classes[r : r + 32, c : c + 32] == int(logits.argmax())).all()


def test_change_pair_as_a_two_date_series(tmp_path):
    """The change-map path: two dates (the second on a grid offset by whole pixels) stacked
    date-major for the model; the output is defined where both dates hold data."""
    from mmskysense.apis.scene import (
        ModalityInput,
        SceneInputs,
        SceneSpec,
        TensorFunctionAdapter,
        segment_scene,
    )

    d1, d2 = tmp_path / 'd1.tif', tmp_path / 'd2.tif'
    a = _scene(d1, 64, 80, nodata_boxes=[(0, 8, 0, 8)], seed=1)
    b = np.random.default_rng(2).integers(1, 255, (3, 70, 80), dtype=np.uint8)
    b[:, 50:60, 40:50] = 0
    with rasterio.open(d1) as f:
        south = f.transform @ rasterio.Affine.translation(0, 4)  # 4 rows south
    write_geotiff_like(d2, d1, b, tags=False, transform=south)  # 70 x 80, as b
    seen = []

    def changed(x):  # N x 6 x h x w: date 1's bands, then date 2's
        seen.append(x.shape[1])
        diff = (x[:, :3].float() - x[:, 3:].float()).abs().mean(1)
        return torch.stack([-diff, diff], 1).softmax(1)

    spec = SceneSpec([ModalityInput('img', channels=3, num_dates=2)])
    out = tmp_path / 'change.tif'
    with SceneInputs.open(spec, dict(img=[str(d1), str(d2)]), valid_dates='all') as scene:
        segment_scene(
            TensorFunctionAdapter(changed), scene, str(out), 2, tile=32, overlap=8, progress=False
        )
    assert set(seen) == {6}
    with rasterio.open(out) as f:
        assert f.shape == (60, 80)  # rows 4..64 of date 1 are in both
        with rasterio.open(d1) as g:
            assert f.transform == g.transform @ rasterio.Affine.translation(0, 4)
        cm = f.read(1)
    both = (a[:, 4:64] != 0).any(0) & (b[:, :60] != 0).any(0)
    np.testing.assert_array_equal(cm == 255, ~both)
    expected = np.abs(a[:, 4:64].astype(float) - b[:, :60]).mean(0) > 0
    np.testing.assert_array_equal(cm[both], expected[both].astype(np.uint8))
