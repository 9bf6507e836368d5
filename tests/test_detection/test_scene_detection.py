"""Detection over a large scene: an object cut by a patch border is found once, with its
coordinates; the GeoJSON polygons are the scene transform applied to the pixel boxes; the
scene's CRS, scenes without one, nodata, failures, and the CLI with a real detector."""

import json
import os
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from helpers.geotiff import write_geotiff
from rasterio.crs import CRS
from rasterio.transform import from_origin

from mmskysense.apis import detect_geotiff
from mmskysense.apis.scene_detection import write_detection_preview

REPO = Path(__file__).resolve().parents[2]
CLASSES = ('red', 'green')
COLOURS = {0: (220, 30, 30), 1: (30, 200, 30)}
TRANSFORM = from_origin(500000.0, 4100000.0, 0.5, 0.5)


def _scene(path, h, w, objects, crs=CRS.from_epsg(32633), transform=TRANSFORM):
    """A grey scene with axis-aligned coloured rectangles ``(label, x0, y0, x1, y1)``."""
    data = np.full((3, h, w), 90, dtype=np.uint8)
    for label, x0, y0, x1, y1 in objects:
        data[:, y0:y1, x0:x1] = np.array(COLOURS[label], dtype=np.uint8)[:, None, None]
    write_geotiff(path, data, crs=crs, transform=transform)


def oracle(rotated=False, calls=None):
    """A stand-in detector: the bounding box (in patch pixels) of every connected region of a
    class colour in the patch, score 0.9 (a box cut by the patch border is cut here too)."""
    import cv2

    def predict(tiles):
        if calls is not None:
            calls.append(len(tiles))
        out = []
        for t in tiles.numpy():
            boxes, labels = [], []
            for label, rgb in COLOURS.items():
                mask = np.all(t.transpose(1, 2, 0) == rgb, axis=-1).astype(np.uint8)
                n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
                for x, y, w, h, _ in stats[1:]:
                    boxes.append(
                        [x + w / 2, y + h / 2, w, h, 0.0] if rotated else [x, y, x + w, y + h]
                    )
                    labels.append(label)
            out.append(
                dict(
                    bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(
                        -1, 5 if rotated else 4
                    ),
                    scores=torch.full((len(boxes),), 0.9),
                    labels=torch.tensor(labels, dtype=torch.long),
                )
            )
        return out

    return predict


# patches of 128 px with 48 px overlap on a 208 px wide scene start at x = 0 and 80: the red
# object (x 100..140) is cut by the first patch's right border (x = 128) and whole in the second
OBJECTS = [(0, 100, 40, 140, 70), (1, 10, 90, 50, 120), (1, 150, 150, 190, 180)]


@pytest.mark.parametrize('rotated', [False, True])
def test_border_cut_object_found_once_with_its_coordinates(tmp_path, rotated):
    src = tmp_path / 'scene.tif'
    _scene(src, 200, 208, OBJECTS)
    out = tmp_path / 'out' / 'dets.geojson'
    dets = detect_geotiff(
        oracle(rotated),
        str(src),
        str(out),
        CLASSES,
        tile=128,
        overlap=48,
        batch_size=3,
        progress=False,
    )
    assert dets.stats['patches'] == 4 and dets.stats['before_merge'] > len(OBJECTS)
    assert len(dets) == len(OBJECTS)
    found = sorted(zip(dets.labels.tolist(), dets.pixel_polygons().round(6).tolist()))
    expected = sorted(
        (lab, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) for lab, x0, y0, x1, y1 in OBJECTS
    )
    for (lab, poly), (elab, epoly) in zip(found, expected):
        assert lab == elab
        # corners as a set: a rotated box's first corner depends on its angle convention
        assert sorted(map(tuple, poly)) == sorted(map(tuple, epoly))

    # the vector file: the scene transform applied to the pixel corners, the scene's CRS
    fc = json.loads(out.read_text())
    assert fc['crs']['properties']['name'] == 'urn:ogc:def:crs:EPSG::32633'
    assert len(fc['features']) == len(OBJECTS)
    for feat, corners, label, score in zip(
        fc['features'], dets.pixel_polygons(), dets.labels.tolist(), dets.scores.tolist()
    ):
        assert feat['properties']['class'] == CLASSES[label]
        assert feat['properties']['score'] == pytest.approx(score)
        ring = np.array(feat['geometry']['coordinates'][0])
        assert len(ring) == 5 and (ring[0] == ring[-1]).all()
        xs, ys = rasterio.transform.xy(TRANSFORM, corners[:, 1], corners[:, 0], offset='ul')
        mapped = sorted(zip(np.ravel(xs), np.ravel(ys)))
        np.testing.assert_allclose(sorted(map(tuple, ring[:4])), mapped, rtol=0, atol=1e-6)
    assert not list(out.parent.glob('*.partial'))


@pytest.mark.parametrize('fmt', ['png', 'tif'])
def test_scene_without_crs_gives_pixel_space(tmp_path, fmt):
    """A DOTA PNG (or a GeoTIFF without CRS): boxes in pixel space that a GIS cannot take for
    longitude / latitude: an explicit local engineering CRS, x = column, y = -row."""
    import cv2
    import pyogrio

    src = tmp_path / 'plain.tif'
    _scene(src, 150, 150, [(0, 20, 30, 60, 50)], crs=None)
    if fmt == 'png':  # as DOTA ships its images: an 8-bit RGB PNG, no georeference
        with rasterio.open(src) as f:
            rgb = f.read().transpose(1, 2, 0)
        src = tmp_path / 'P0001.png'
        cv2.imwrite(str(src), np.ascontiguousarray(rgb[..., ::-1]))
    out = tmp_path / 'dets.geojson'
    detect_geotiff(oracle(), str(src), str(out), CLASSES, tile=100, overlap=30, progress=False)
    fc = json.loads(out.read_text())
    assert fc['mmskysense']['coordinates'] == 'pixel'
    crs = CRS.from_user_input(fc['crs']['properties']['name'])
    assert not crs.is_geographic and not crs.is_projected and 'pixel' in crs.to_wkt()
    # GDAL (QGIS, geopandas) reads the file in that CRS, not in WGS 84
    read = CRS.from_user_input(pyogrio.read_info(str(out))['crs'])
    assert not read.is_geographic and 'no georeference' in read.to_wkt()
    feature = fc['features'][0]
    ring = feature['geometry']['coordinates'][0]
    assert sorted(map(tuple, ring[:4])) == [(20, -50), (20, -30), (60, -50), (60, -30)]
    assert feature['properties']['pixel_box'] == [20, 30, 60, 50]


def test_nodata_patches_are_skipped(tmp_path):
    src = tmp_path / 'holes.tif'
    data = np.zeros((3, 200, 200), dtype=np.uint8)
    data[:, :100, :100] = 90
    data[:, 20:40, 20:60] = np.array(COLOURS[1], dtype=np.uint8)[:, None, None]
    with rasterio.open(
        src,
        'w',
        driver='GTiff',
        height=200,
        width=200,
        count=3,
        dtype='uint8',
        crs=CRS.from_epsg(32633),
        transform=TRANSFORM,
        nodata=0,
    ) as dst:
        dst.write(data)
    calls = []
    dets = detect_geotiff(
        oracle(calls=calls),
        str(src),
        None,
        CLASSES,
        tile=100,
        overlap=0,
        batch_size=4,
        progress=False,
    )
    assert dets.stats['empty_patches'] == 3 and sum(calls) == 1
    assert len(dets) == 1 and dets.labels.tolist() == [1]


def test_failure_leaves_no_output(tmp_path):
    src = tmp_path / 'scene.tif'
    _scene(src, 200, 208, OBJECTS)
    out = tmp_path / 'dets.geojson'

    def broken(tiles):
        raise RuntimeError('out of memory')

    with pytest.raises(RuntimeError):
        detect_geotiff(broken, str(src), str(out), CLASSES, tile=128, overlap=48, progress=False)
    assert os.listdir(tmp_path) == ['scene.tif']
    with pytest.raises(ValueError, match='band indexes'):
        detect_geotiff(oracle(), str(src), str(out), CLASSES, bands=[1, 2, 4], progress=False)
    with pytest.raises(ValueError, match='.geojson'):
        detect_geotiff(oracle(), str(src), str(tmp_path / 'dets.shp'), CLASSES, progress=False)


def test_preview_png(tmp_path):
    src = tmp_path / 'scene.tif'
    _scene(src, 200, 208, OBJECTS)
    dets = detect_geotiff(oracle(), str(src), None, CLASSES, tile=128, overlap=48, progress=False)
    png = tmp_path / 'p.png'
    write_detection_preview(str(src), dets, str(png))
    import matplotlib.image as mpimg

    assert mpimg.imread(str(png)).shape[0] > 100


def test_cli_with_a_real_detector(tmp_path, monkeypatch, capsys):
    """tools/detect_large_scene.py with a (randomly initialised) tiny Oriented R-CNN from the
    DIOR-R config: a GeoJSON in the scene's CRS and a preview come out."""
    from mmengine.config import Config

    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        'det_tiny', Path(__file__).with_name('det_tiny.py')
    )
    det_tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(det_tiny)
    cfg = det_tiny.tiny_config('dior_r', str(tmp_path), str(tmp_path / 'work'), size=96)
    cfg_path = tmp_path / 'tiny_dior_r.py'
    cfg.dump(str(cfg_path))
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg_path)).model)
    ckpt = tmp_path / 'det.pth'
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=[f'c{i}' for i in range(20)])),
        ),
        ckpt,
    )
    src = tmp_path / 'scene.tif'
    _scene(src, 150, 170, OBJECTS[:1])
    out = tmp_path / 'out.geojson'
    # run as a script, in this process (a fresh interpreter would spend its time on imports)
    monkeypatch.setattr(
        sys,
        'argv',
        [
            'detect_large_scene.py',
            str(cfg_path),
            str(ckpt),
            str(src),
            str(out),
            '--overlap',
            '32',
            '--score-thr',
            '0.0',
            '--batch-size',
            '2',
            '--cfg-options',
            'model.test_cfg.rcnn.max_per_img=10',
        ],
    )
    runpy.run_path(str(REPO / 'tools/detect_large_scene.py'), run_name='__main__')
    assert 'detections' in capsys.readouterr().out
    fc = json.loads(out.read_text())
    assert fc['crs']['properties']['name'] == 'urn:ogc:def:crs:EPSG::32633'
    assert fc['mmskysense']['box_type'] == 'rbox' and fc['features']
    for feat in fc['features']:
        assert feat['properties']['class'].startswith('c')
        x, y = np.array(feat['geometry']['coordinates'][0]).T
        assert ((x > 499900) & (x < 500200)).all() and ((y > 4099900) & (y < 4100100)).all()
    assert out.with_suffix('.png').stat().st_size > 1000
