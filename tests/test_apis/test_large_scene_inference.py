"""Tiled large-scene segmentation: georeferencing, blending, nodata, failure safety."""

import numpy as np
import pytest
import rasterio
import torch
from rasterio.crs import CRS
from rasterio.transform import from_origin

from mmskysense.apis import TileGrid, blend_window, segment_geotiff
from mmskysense.visualization import write_preview

NUM_CLASSES = 3


def _scene(path, h, w, nodata_box=None, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 255, size=(3, h, w), dtype=np.uint8)
    if nodata_box is not None:
        y0, y1, x0, x1 = nodata_box
        data[:, y0:y1, x0:x1] = 0
    profile = dict(
        driver='GTiff',
        height=h,
        width=w,
        count=3,
        dtype='uint8',
        crs=CRS.from_epsg(32633),
        transform=from_origin(500000.0, 4100000.0, 0.3, 0.3),
        nodata=0,
    )
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(data)
    return data


def _pixelwise_predict(tiles):
    # a per-pixel model: its tiled output must equal its untiled output exactly
    x = tiles.float()
    logits = torch.stack([x[:, 0] - x[:, 1], x[:, 1] - x[:, 2], x[:, 2] - x[:, 0]], dim=1)
    return logits.softmax(1)


def test_grid_covers_every_pixel():
    for h, w, t, o in [(100, 37, 32, 8), (64, 64, 64, 0), (20, 300, 64, 16), (513, 512, 128, 32)]:
        g = TileGrid(h, w, t, o)
        cover = np.zeros((h, w), dtype=int)
        for r in g.rows:
            for c in g.cols:
                cover[r : r + min(t, h), c : c + min(t, w)] += 1
        assert cover.min() >= 1, (h, w, t, o)
        assert g.rows[-1] + min(t, h) == h and g.cols[-1] + min(t, w) == w


def test_bad_grid_arguments():
    with pytest.raises(ValueError, match='overlap'):
        TileGrid(10, 10, 8, 8)
    with pytest.raises(ValueError, match='tile'):
        TileGrid(10, 10, 0, 0)


def test_blend_window_is_positive_and_tapers():
    w = blend_window(16, 16, 4)
    assert (w > 0).all()
    assert w[8, 8] == 1 and w[0, 0] < w[2, 2] < w[8, 8]


def test_output_has_input_crs_transform_and_pixelwise_result(tmp_path):
    src = tmp_path / 'scene.tif'
    data = _scene(src, 150, 230, nodata_box=(10, 30, 200, 230))
    out = tmp_path / 'classes.tif'
    segment_geotiff(
        _pixelwise_predict,
        str(src),
        str(out),
        NUM_CLASSES,
        tile=64,
        overlap=16,
        batch_size=3,
        block=96,
        progress=False,
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


def test_block_size_does_not_change_the_result(tmp_path):
    src = tmp_path / 'scene.tif'
    _scene(src, 120, 140)

    def context_predict(tiles):
        # depends on the whole tile: blending order and block boundaries matter here
        x = tiles.float()
        m = x.mean(dim=(2, 3), keepdim=True)
        return torch.cat([x - m, m - x], 1)[:, :NUM_CLASSES].softmax(1)

    outs = []
    for block in (48, 100, 1000):
        out = tmp_path / f'b{block}.tif'
        segment_geotiff(
            context_predict,
            str(src),
            str(out),
            NUM_CLASSES,
            tile=40,
            overlap=12,
            block=block,
            progress=False,
        )
        with rasterio.open(out) as f:
            outs.append(f.read(1))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


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
        )
    assert list(tmp_path.iterdir()) == [src]


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.tif'):
        segment_geotiff(
            _pixelwise_predict,
            str(tmp_path / 'missing.tif'),
            str(tmp_path / 'o.tif'),
            NUM_CLASSES,
            progress=False,
        )
    junk = tmp_path / 'junk.tif'
    junk.write_bytes(b'not a tiff at all')
    with pytest.raises(ValueError, match='junk.tif'):
        segment_geotiff(
            _pixelwise_predict, str(junk), str(tmp_path / 'o.tif'), NUM_CLASSES, progress=False
        )
    src = tmp_path / 'scene.tif'
    _scene(src, 40, 40)
    with pytest.raises(ValueError, match='band indexes \\[5\\]'):
        segment_geotiff(
            _pixelwise_predict,
            str(src),
            str(tmp_path / 'o.tif'),
            NUM_CLASSES,
            bands=[1, 2, 5],
            progress=False,
        )
    with pytest.raises(ValueError, match='predict_fn returned'):
        segment_geotiff(
            lambda t: _pixelwise_predict(t)[:, :2],
            str(src),
            str(tmp_path / 'o.tif'),
            NUM_CLASSES,
            tile=32,
            overlap=0,
            progress=False,
        )
    assert not (tmp_path / 'o.tif').exists()


def test_preview_has_legend(tmp_path):
    src = tmp_path / 'scene.tif'
    _scene(src, 80, 120, nodata_box=(0, 10, 0, 10))
    out = tmp_path / 'classes.tif'
    segment_geotiff(
        _pixelwise_predict, str(src), str(out), NUM_CLASSES, tile=32, overlap=8, progress=False
    )
    png = write_preview(str(out), str(tmp_path / 'p.png'), ['water', 'trees', 'roofs'])
    from PIL import Image

    img = Image.open(png)
    assert img.size[0] > 100 and img.size[1] > 100
