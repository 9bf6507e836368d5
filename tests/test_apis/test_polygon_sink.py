"""Polygons of a class map (issue 27): a region cut by tile and block borders comes out as one
polygon with its raster area and its hole, small regions are dropped by ``min_area``, the CRS is
the scene's, the GeoPackage opens in GDAL, the format is refused before anything runs and a
failure leaves no file."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
import shapely
import torch
import torch.nn.functional as F
from helpers.geotiff import write_geotiff
from rasterio.crs import CRS
from rasterio.features import shapes
from rasterio.transform import from_origin

from mmskysense.apis.scene import (
    BlendAccumulator,
    ClassMapWriter,
    ModalityInput,
    PolygonSink,
    SceneInputs,
    SceneSpec,
    polygon_sink,
    polygonize_class_map,
    run_tiles,
)

H, W, RES = 160, 176, 0.5
X0, Y0 = 400_000.0, 5_000_000.0
TRANSFORM = from_origin(X0, Y0, RES, RES)
NAMES = ['background', 'ring', 'inside', 'speck']
SPECKS = [(5, 5), (5, 160), (150, 5), (150, 100)]


def _truth() -> np.ndarray:
    """Class 1: a square ring (its hole holds class 2) crossing many 24 px blocks and 64 px
    tiles; class 3: four 2 x 2 specks (1 m^2 each) in the background."""
    truth = np.zeros((H, W), dtype=np.uint8)
    truth[20:140, 20:150] = 1
    truth[40:120, 40:130] = 2
    for r, c in SPECKS:
        truth[r : r + 2, c : c + 2] = 3
    return truth


def _class_map(path, truth, confidence):
    writer = ClassMapWriter(
        str(path), H, W, CRS.from_epsg(32633), TRANSFORM, 4, True, class_names=NAMES
    )
    writer.write(0, 0, truth, confidence)
    return writer.commit()


def _read_gpkg(path):
    from pyogrio.raw import read

    meta, _, wkb, columns = read(str(path))
    fields = dict(zip(meta['fields'], columns))
    return meta, shapely.from_wkb(wkb), fields


def _reference_polygon(classes, value):
    """The class's region polygonised over the whole raster at once (no blocks)."""
    polys = [
        shapely.geometry.shape(g)
        for g, v in shapes(classes, mask=classes == value, transform=TRANSFORM)
    ]
    assert len(polys) == 1
    return polys[0]


def test_region_cut_by_block_borders_comes_out_whole(tmp_path):
    truth = _truth()
    conf = np.random.default_rng(0).integers(40, 101, (H, W), dtype=np.uint8)
    cmap = _class_map(tmp_path / 'map.tif', truth, conf)
    out = tmp_path / 'polygons.gpkg'
    result = polygonize_class_map(cmap, str(out), block=24)

    # the expectation from the raster as written, with numpy
    with rasterio.open(cmap) as src:
        classes, confidence = src.read(1), src.read(2)
        crs = src.crs
    ring = classes == 1
    count = int(ring.sum())
    assert count == 120 * 130 - 80 * 90

    meta, geoms, fields = _read_gpkg(out)
    assert CRS.from_user_input(meta['crs']) == crs
    assert result.polygons == len(geoms) == 3 + len(SPECKS)  # background, ring, inside, specks
    i = [k for k, v in enumerate(fields['class_id']) if v == 1]
    assert len(i) == 1, 'the ring must come out as one polygon'
    i = i[0]
    poly = geoms[i]
    assert fields['class'][i] == 'ring'
    assert fields['pixels'][i] == count
    assert fields['area'][i] == count * RES * RES
    assert poly.geom_type == 'Polygon' and poly.is_valid
    assert poly.area == pytest.approx(count * RES * RES, rel=1e-12)
    assert len(poly.interiors) == 1, 'the ring keeps its hole'
    # no vertex left where block borders cut the straight outlines
    assert len(poly.exterior.coords) == len(poly.interiors[0].coords) == 5
    hole = shapely.Polygon(poly.interiors[0])
    assert hole.area == pytest.approx(int((classes == 2).sum()) * RES * RES, rel=1e-12)
    assert fields['confidence'][i] == pytest.approx(confidence[ring].mean(), rel=1e-12)
    # the same shape as polygonising the whole raster at once
    assert poly.symmetric_difference(_reference_polygon(classes, 1)).area < 1e-6
    # the background keeps its holes too: the ring's outline and the four specks
    bg = geoms[list(fields['class_id']).index(0)]
    assert len(bg.interiors) == 1 + len(SPECKS)

    if shutil.which('ogrinfo'):
        info = subprocess.run(
            ['ogrinfo', '-so', '-al', str(out)], capture_output=True, text=True, check=True
        ).stdout
        assert f'Feature Count: {len(geoms)}' in info
        assert 'partially supported' not in info
        check = subprocess.run(
            ['ogrinfo', '-q', str(out), '-sql', 'PRAGMA integrity_check'],
            capture_output=True,
            text=True,
            check=True,
        )
        assert 'integrity_check (String) = ok' in check.stdout
        assert 'partially supported' not in check.stderr


def test_min_area_simplify_and_geojson(tmp_path):
    truth = _truth()
    cmap = _class_map(tmp_path / 'map.tif', truth, np.full((H, W), 90, np.uint8))
    out = tmp_path / 'polygons.geojson'
    result = polygonize_class_map(cmap, str(out), block=32, min_area=1.5, simplify=0.25)
    assert result.dropped == len(SPECKS)
    data = json.loads(out.read_text())
    assert data['crs']['properties']['name'] == 'urn:ogc:def:crs:EPSG::32633'
    props = [f['properties'] for f in data['features']]
    assert sorted(p['class'] for p in props) == ['background', 'inside', 'ring']
    assert all(p['confidence'] == 90 for p in props)
    ring = next(f for f in data['features'] if f['properties']['class_id'] == 1)
    poly = shapely.geometry.shape(ring['geometry'])
    assert len(poly.exterior.coords) == 5
    assert poly.area == pytest.approx(ring['properties']['area'])
    assert not os.path.exists(str(out) + '.partial')
    assert sorted(os.listdir(tmp_path)) == ['map.tif', 'polygons.geojson']


def test_unknown_format_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match='unknown vector format'):
        polygonize_class_map(str(tmp_path / 'missing.tif'), str(tmp_path / 'out.shp'))
    with pytest.raises(ValueError, match='unknown vector format'):
        PolygonSink(None, str(tmp_path / 'out.kml'))
    assert os.listdir(tmp_path) == []


def _onehot(truth):
    """An adapter giving each tile the one-hot probabilities of ``truth``."""

    def adapter(batch):
        out = []
        for t in batch.tiles:
            labels = torch.from_numpy(truth[t.row : t.row + t.height, t.col : t.col + t.width])
            out.append(F.one_hot(labels.long(), 4).permute(2, 0, 1).float())
        return torch.stack(out)

    return adapter


def _scene(path):
    data = np.random.default_rng(1).integers(1, 255, (3, H, W), dtype=np.uint8)
    write_geotiff(path, data, res=RES, origin=(X0, Y0), crs=CRS.from_epsg(32633))


def _polygon_sink(scene, grid, out):
    writer = ClassMapWriter(
        str(out / 'map.tif'), H, W, scene.crs, scene.transform, 4, True, class_names=NAMES
    )
    return PolygonSink(BlendAccumulator(grid, 4, writer), str(out / 'map.gpkg'), block=24)


def test_polygon_sink_through_run_tiles(tmp_path):
    """Tiles of 64 px (overlap 16) and blocks of 24 px both cut the ring several times."""
    truth = _truth()
    _scene(tmp_path / 'scene.tif')
    spec = SceneSpec([ModalityInput('img', bands=[1, 2, 3])])
    out = tmp_path / 'out'
    with SceneInputs.open(spec, {'img': [str(tmp_path / 'scene.tif')]}) as scene:
        grid = scene.grid(64, 16)
        result, stats = run_tiles(scene, grid, _onehot(truth), _polygon_sink(scene, grid, out))
    assert stats.computed == len(grid) > 4
    assert sorted(os.listdir(out)) == ['map.gpkg', 'map.tif']
    with rasterio.open(result.class_map) as src:
        classes = src.read(1)
    np.testing.assert_array_equal(classes, truth)
    _, geoms, fields = _read_gpkg(result.path)
    ids = list(fields['class_id'])
    assert ids.count(1) == 1 and ids.count(3) == len(SPECKS)
    ring = geoms[ids.index(1)]
    assert ring.area == pytest.approx(int((classes == 1).sum()) * RES * RES, rel=1e-12)
    assert fields['confidence'][ids.index(1)] == 100


def test_polygon_sink_abort_leaves_no_file(tmp_path):
    truth = _truth()
    _scene(tmp_path / 'scene.tif')
    spec = SceneSpec([ModalityInput('img', bands=[1, 2, 3])])
    out = tmp_path / 'out'
    calls = []

    def fails(batch):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError('the device ran out of memory')
        return _onehot(truth)(batch)

    with SceneInputs.open(spec, {'img': [str(tmp_path / 'scene.tif')]}) as scene:
        grid = scene.grid(64, 16)
        sink = _polygon_sink(scene, grid, out)
        with pytest.raises(RuntimeError, match='out of memory'):
            run_tiles(scene, grid, fails, sink, batch_size=1, progress=False)
    assert os.listdir(out) == []


@pytest.mark.parametrize('block', [5, 16, 100])
def test_blocks_give_the_regions_of_the_whole_raster(tmp_path, monkeypatch, block):
    """A noisy map with nodata: every 4-connected region (its class and pixel count), as the
    whole raster polygonised at once gives them, whatever the block size (open regions
    dissolved as soon as they hold 3 pieces)."""
    monkeypatch.setattr(polygon_sink, 'COMPACT_PIECES', 2)
    rng = np.random.default_rng(block)
    h, w = 61, 83
    classes = np.kron(rng.integers(0, 3, (16, 21)), np.ones((4, 4)))[:h, :w].astype(np.uint8)
    noise = rng.random((h, w)) < 0.05
    classes[noise] = rng.integers(0, 3, int(noise.sum()))
    classes[rng.random((h, w)) < 0.02] = 255
    transform = from_origin(0.0, 1000.0, 1.0, 1.0)
    writer = ClassMapWriter(str(tmp_path / 'map.tif'), h, w, CRS.from_epsg(32633), transform, 3)
    writer.write(0, 0, classes)
    cmap = writer.commit()
    expected = sorted(
        (int(v), round(shapely.geometry.shape(g).area))
        for g, v in shapes(classes, mask=classes != 255, transform=transform)
    )
    polygonize_class_map(cmap, str(tmp_path / 'map.gpkg'), block=block)
    _, geoms, fields = _read_gpkg(tmp_path / 'map.gpkg')
    assert sorted(zip(fields['class_id'].tolist(), fields['pixels'].tolist())) == expected
    assert all(g.is_valid and g.geom_type == 'Polygon' for g in geoms)
    np.testing.assert_allclose(shapely.area(geoms), fields['area'], rtol=1e-12)
    assert 'confidence' not in fields
