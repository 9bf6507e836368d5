"""Tile embeddings (issue 27): the feature COG's pixel (i, j) lies over tile (i, j), its bands and
the vector layer's attributes are what the backbone gives for that tile's pixels, skipped tiles
are NaN / absent, and a failure or a refused output leaves no file."""

import json
import os

import numpy as np
import pytest
import rasterio
import shapely
import torch
from helpers.geotiff import write_geotiff
from rasterio.crs import CRS
from torch import nn

from mmskysense.apis.scene import (
    BackboneAdapter,
    EmbeddingSink,
    ModalityInput,
    SceneInputs,
    SceneSpec,
    embed_scene,
    grid_cell_transform,
)
from mmskysense.registry import MODELS

H, W, RES = 96, 128, 2.0
X0, Y0 = 600_000.0, 4_200_000.0


class ToyBackbone(nn.Module):
    """Two stages of convolutions: a tuple of maps, like the backbones."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 5, 3, stride=2, padding=1)

    def forward(self, x):
        a = torch.relu(self.conv1(x / 255.0))
        return a, self.conv2(a)


def _scene(path, h=H, w=W):
    """RGB, nodata 0; the first 32 x 32 tile holds no data."""
    data = np.random.default_rng(0).integers(1, 255, (3, h, w), dtype=np.uint8)
    data[:, :32, :32] = 0
    write_geotiff(path, data, res=RES, origin=(X0, Y0), crs=CRS.from_epsg(32633), nodata=0)
    return data


def _open(path):
    return SceneInputs.open(SceneSpec([ModalityInput('img', bands=[1, 2, 3])]), {'img': [path]})


def _direct(model, data, row, col, size=32):
    """The backbone called on the tile's pixels, pooled by hand."""
    x = torch.from_numpy(data[:, row : row + size, col : col + size].astype(np.float32))[None]
    with torch.no_grad():
        return model(x)[-1].mean(dim=(2, 3))[0].numpy()


@pytest.mark.parametrize('vector', ['emb.gpkg', 'emb.geojson'])
def test_feature_cog_and_footprints_hold_each_tiles_features(tmp_path, vector):
    torch.manual_seed(0)
    data = _scene(str(tmp_path / 'scene.tif'))
    model = ToyBackbone().eval()
    out, cog = tmp_path / 'out' / vector, tmp_path / 'out' / 'emb.tif'
    with _open(str(tmp_path / 'scene.tif')) as scene:
        grid = scene.grid(32, 0)
        result = embed_scene(model, scene, str(out), str(cog), tile=32, batch_size=5)
        boxes = {(t.i, t.j): scene.tile_box(t) for t in grid}
    assert (len(grid.rows), len(grid.cols)) == (3, 4)
    assert result.tiles == 11 and result.channels == 5  # tile (0, 0) holds no data
    assert sorted(os.listdir(tmp_path / 'out')) == sorted([vector, 'emb.tif'])

    with rasterio.open(cog) as src:
        assert src.crs == CRS.from_epsg(32633)
        assert (src.height, src.width, src.count) == (3, 4, 5)
        assert src.driver == 'GTiff' and src.dtypes[0] == 'float32'
        features, t = src.read(), src.transform
    for (i, j), box in boxes.items():
        # pixel (i, j) covers tile (i, j)'s footprint exactly (no overlap)
        x0, y0 = t @ (j, i)
        x1, y1 = t @ (j + 1, i + 1)
        assert (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)) == pytest.approx(box)
        if (i, j) == (0, 0):
            assert np.isnan(features[:, 0, 0]).all()
        else:
            expected = _direct(model, data, 32 * i, 32 * j)
            np.testing.assert_allclose(features[:, i, j], expected, rtol=1e-6, atol=1e-7)

    if vector.endswith('.gpkg'):
        from pyogrio.raw import read

        meta, _, wkb, columns = read(str(out))
        assert CRS.from_user_input(meta['crs']) == CRS.from_epsg(32633)
        rows = [
            dict(zip(meta['fields'], values), geometry=g)
            for values, g in zip(zip(*columns), shapely.from_wkb(wkb))
        ]
        for r in rows:
            r['embedding'] = json.loads(r['embedding'])
    else:
        doc = json.loads(out.read_text())
        assert doc['crs']['properties']['name'] == 'urn:ogc:def:crs:EPSG::32633'
        rows = [
            dict(f['properties'], geometry=shapely.geometry.shape(f['geometry']))
            for f in doc['features']
        ]
    assert len(rows) == 11 and (0, 0) not in {(r['tile_i'], r['tile_j']) for r in rows}
    for r in rows:
        i, j = r['tile_i'], r['tile_j']
        assert (r['row'], r['col']) == (32 * i, 32 * j)
        assert r['geometry'].bounds == pytest.approx(boxes[(i, j)])
        assert r['geometry'].area == pytest.approx((32 * RES) ** 2)
        np.testing.assert_allclose(r['embedding'], features[:, i, j], rtol=0, atol=0)


def test_overlapping_tiles_sit_at_their_cell_centres(tmp_path):
    """Overlap 16 (step 16): the cell of tile (i, j) is the step centred on the tile."""
    _scene(str(tmp_path / 'scene.tif'))
    with _open(str(tmp_path / 'scene.tif')) as scene:
        grid = scene.grid(32, 16)
        t = grid_cell_transform(grid, scene.transform)
        for tile in grid:
            if tile.row != 16 * tile.i or tile.col != 16 * tile.j:
                continue  # the last tile, moved back inside the scene
            x0, y0, x1, y1 = scene.tile_box(tile)
            assert t @ (tile.j + 0.5, tile.i + 0.5) == pytest.approx(((x0 + x1) / 2, (y0 + y1) / 2))
        assert abs(t.a) == 16 * RES and abs(t.e) == 16 * RES


def test_skysense_backbone_through_the_adapter(tmp_path):
    """The single-modal SkySense V2 backbone (tiny): the adapter's features are its last stage,
    averaged, for the tile's pixels."""
    torch.manual_seed(0)
    data = _scene(str(tmp_path / 'scene.tif'), 64, 64)
    backbone = MODELS.build(
        dict(type='SkySenseV2SingleModal', modality='hr', arch='tiny', use_moe=False)
    ).eval()
    with _open(str(tmp_path / 'scene.tif')) as scene:
        result = embed_scene(
            BackboneAdapter(backbone), scene, raster_path=str(tmp_path / 'f.tif'), tile=32
        )
    assert result.path is None and result.channels == backbone.out_channels[-1]
    with rasterio.open(tmp_path / 'f.tif') as src:
        got = src.read()[:, 1, 1]
    x = torch.from_numpy(data[:, 32:, 32:].astype(np.float32))[None]
    with torch.no_grad():
        expected = backbone(x)[-1].mean(dim=(2, 3))[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


class Fails:
    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, batch):
        self.calls += 1
        if self.calls >= self.n:
            raise RuntimeError('the device ran out of memory')
        return torch.zeros(len(batch), 4)


def test_abort_leaves_no_file(tmp_path):
    _scene(str(tmp_path / 'scene.tif'))
    out = tmp_path / 'out'
    with _open(str(tmp_path / 'scene.tif')) as scene:
        adapter = Fails(3)
        with pytest.raises(RuntimeError, match='out of memory'):
            embed_scene(
                adapter, scene, str(out / 'e.gpkg'), str(out / 'e.tif'), tile=32, batch_size=2
            )
        assert adapter.calls == 3
        assert os.listdir(out) == []
        # refused outputs: nothing made, the model never called
        adapter = Fails(1)
        for bad in [dict(dst_path=str(out / 'e.shp')), dict(raster_path=str(out / 'e.png')), {}]:
            with pytest.raises(ValueError):
                embed_scene(adapter, scene, tile=32, **bad)
        assert adapter.calls == 0 and os.listdir(out) == []
        # an abort by hand after some tiles
        grid = scene.grid(32, 0)
        sink = EmbeddingSink(grid, scene.crs, scene.transform, str(out / 'e.geojson'), None)
        sink.add(scene.read(list(grid)[1:3]), torch.ones(2, 4))
        sink.abort()
    assert os.listdir(out) == []
