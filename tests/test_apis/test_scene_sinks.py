"""The one scene loop and its sinks (issue 27): a failure mid-scene leaves no file for either
product, the loop aborts its sink and re-raises, the box sink gives a box that straddles a tile
border once, and detection checks its inputs before it builds a model."""

import importlib.util
import json
import os
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.geotiff import write_geotiff
from rasterio.crs import CRS

from mmskysense.apis.scene import (
    BoxSink,
    DetectorAdapter,
    ModalityInput,
    SceneInputs,
    SceneSpec,
    TileBatch,
    build_adapter,
    run_tiles,
    segment_scene,
    trained_on_bgr,
)
from mmskysense.apis.scene_detection import detect_scene, open_detection_scene
from mmskysense.datasets.tiling import Tile

REPO = Path(__file__).resolve().parents[2]
DIOR_CONFIG = REPO / 'configs/skysense_v2_det/faster-rcnn_skysense-v2-huge-fpn_8xb2-12e_dior.py'


def _scene(path, h=200, w=208):
    data = np.random.default_rng(0).integers(1, 255, size=(3, h, w), dtype=np.uint8)
    write_geotiff(path, data, res=0.5, crs=CRS.from_epsg(32633), nodata=0)


class FailsOnCall:
    """An adapter that gives ``ok(batch)`` until its ``n``-th call, then raises."""

    def __init__(self, n, ok):
        self.n, self.ok, self.calls = n, ok, 0

    def __call__(self, batch):
        self.calls += 1
        if self.calls >= self.n:
            raise RuntimeError('the device ran out of memory')
        return self.ok(batch)


def _no_boxes(batch):
    empty = dict(bboxes=torch.zeros(0, 4), scores=torch.zeros(0), labels=torch.zeros(0).long())
    return [dict(empty) for _ in range(len(batch))]


def _uniform_probs(batch):
    h, w = batch.out_valid.shape[-2:]
    return torch.full((len(batch), 2, h, w), 0.5)


@pytest.mark.parametrize('product', ['boxes', 'class map'])
def test_abort_leaves_no_file_when_the_adapter_raises_mid_scene(tmp_path, product):
    src = tmp_path / 'scene.tif'
    _scene(src)
    out = tmp_path / 'out'
    spec = SceneSpec([ModalityInput('img', bands=[1, 2, 3])])
    loop = dict(tile=64, overlap=16, batch_size=1, progress=False)
    with SceneInputs.open(spec, {'img': [str(src)]}) as scene:
        if product == 'boxes':
            adapter = FailsOnCall(3, _no_boxes)
            run = partial(detect_scene, adapter, scene, str(out / 'dets.geojson'), ['a'], **loop)
        else:
            adapter = FailsOnCall(3, _uniform_probs)
            # carry_mb=0: the carry-over strip goes to a temporary file too
            run = partial(
                segment_scene, adapter, scene, str(out / 'map.tif'), 2, carry_mb=0, **loop
            )
        with pytest.raises(RuntimeError, match='out of memory'):
            run()
    assert adapter.calls == 3  # two batches went to the sink before the failure
    assert sorted(os.listdir(tmp_path)) == ['out', 'scene.tif']
    assert os.listdir(tmp_path / 'out') == []


class RecordingSink:
    def __init__(self):
        self.events = []

    def add(self, batch, outputs):
        self.events.append(('add', len(batch)))

    def finish(self):
        self.events.append('finish')

    def abort(self):
        self.events.append('abort')


def test_run_tiles_aborts_its_sink_and_reraises(tmp_path):
    src = tmp_path / 'scene.tif'
    _scene(src, 100, 100)
    spec = SceneSpec([ModalityInput('img', bands=[1, 2, 3])])
    with SceneInputs.open(spec, {'img': [str(src)]}) as scene:
        sink = RecordingSink()
        with pytest.raises(RuntimeError, match='out of memory'):
            run_tiles(scene, scene.grid(50, 0), FailsOnCall(2, _no_boxes), sink, 2, False)
        assert sink.events == [('add', 2), 'abort']
        # arguments refused by the loop also abort the sink (it may hold temporary files)
        sink = RecordingSink()
        with pytest.raises(ValueError, match='batch_size'):
            run_tiles(scene, scene.grid(50, 0), _no_boxes, sink, 0, False)
        assert sink.events == ['abort']


def _batch(tiles):
    return TileBatch(
        tiles, {}, {}, {}, {}, np.ones((len(tiles), tiles[0].height, tiles[0].width), bool)
    )


@pytest.mark.parametrize('rotated', [False, True])
def test_box_straddling_a_tile_border_comes_out_once(tmp_path, rotated):
    """Two 128 px tiles of a 128 x 208 scene, at x 0 and x 80 (overlap 48). An object at scene
    x 100..140, y 40..70 is cut by the first tile's right border (x 128) and whole in the
    second. Expected by hand: one box, the whole view, in scene pixels."""
    left, right = Tile(0, 0, 0, 0, 128, 128), Tile(0, 1, 0, 80, 128, 128)

    def det(box, score):
        if rotated:  # (x1, y1, x2, y2) -> (cx, cy, w, h, 0)
            x1, y1, x2, y2 = box
            box = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, 0.0]
        return dict(
            bboxes=torch.tensor([box], dtype=torch.float32),
            scores=torch.tensor([score]),
            labels=torch.tensor([1]),
        )

    out = tmp_path / 'dets.geojson'
    sink = BoxSink(128, 208, ['a', 'b'], str(out), score_thr=0.05)
    # the cut view scores higher, so plain NMS by score alone would keep it
    sink.add(_batch([left]), [det([100, 40, 128, 70], 0.95)])  # tile pixels = scene pixels
    sink.add(_batch([right]), [det([20, 40, 60, 70], 0.9)])  # tile pixels: x - 80
    dets = sink.finish()
    expected = [120.0, 55.0, 40.0, 30.0, 0.0] if rotated else [100.0, 40.0, 140.0, 70.0]
    assert len(dets) == 1
    assert dets.bboxes[0].tolist() == pytest.approx(expected)
    assert dets.labels.tolist() == [1] and dets.scores.tolist() == pytest.approx([0.9])
    assert dets.stats == dict(before_merge=2, cut_by_patch_border=1, kept=1)
    fc = json.loads(out.read_text())
    assert [f['properties']['pixel_box'] for f in fc['features']] == [pytest.approx(expected)]
    assert fc['features'][0]['properties']['class'] == 'b'
    assert os.listdir(tmp_path) == ['dets.geojson']  # no temporary file left beside it
    umask = os.umask(0)
    os.umask(umask)
    # readable as any new file (the temporary file mkstemp made is private, 0600)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_box_sink_abort_removes_its_partial_file(tmp_path):
    sink = BoxSink(100, 100, ['a'], str(tmp_path / 'dets.geojson'))
    assert len(os.listdir(tmp_path)) == 1  # the temporary file, made with the sink
    sink.abort()
    assert os.listdir(tmp_path) == []


def test_box_sink_keeps_detections_in_a_few_growing_arrays():
    # per-tile tensors kept until the merge pinned the C heap: resident memory grew by about
    # a tile per tile (126 MiB at 441 patches of 256 px for 8820 detections)
    from mmskysense.apis.scene.box_sink import _Found

    rng = np.random.default_rng(0)
    parts = [
        (
            torch.from_numpy(rng.random((k, 5))),
            torch.from_numpy(rng.random(k)),
            torch.arange(k),
            torch.arange(k) % 2 == 0,
        )
        for k in [0, 3, 700, 1, 900, 2000, 5]
    ]
    found, buffers = _Found(), set()
    for p in parts:
        found.append(*p)
        buffers.add(id(found.cols[0]))
    assert len(found) == sum(len(p[0]) for p in parts) and len(buffers) <= 3
    for got, want in zip(found.tensors(), (torch.cat(v) for v in zip(*parts))):
        assert got.dtype == want.dtype and torch.equal(got, want)


def _detect_tool():
    spec = importlib.util.spec_from_file_location(
        'detect_large_scene', REPO / 'tools' / 'detect_large_scene.py'
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_detection_checks_its_inputs_before_it_builds_the_model(tmp_path):
    src = tmp_path / 'scene.tif'
    _scene(src, 100, 100)
    built = []

    def load_model(*args):
        built.append(args)
        raise AssertionError('the model was built before the inputs were checked')

    tool = _detect_tool()
    out = str(tmp_path / 'dets.geojson')
    for scene, extra, message in [
        (str(src), ['--bands', '1,2,4'], 'expected at least 4'),  # a missing band
        (str(tmp_path / 'none.tif'), [], 'does not exist'),
        (str(src), [], '.geojson'),  # the output path (below: a .shp)
    ]:
        dst = str(tmp_path / 'dets.shp') if message == '.geojson' else out
        with pytest.raises(SystemExit, match=message) as err:
            tool.main([str(DIOR_CONFIG), 'no.pth', scene, dst, *extra], load_model=load_model)
        assert str(src) in str(err.value) or 'none.tif' in str(err.value) or 'shp' in str(err.value)
    assert built == []
    assert sorted(os.listdir(tmp_path)) == ['scene.tif']
    # the API: the scene is opened and checked on its own, before any model exists
    with pytest.raises(ValueError, match=r'scene.tif: has 3 bands per date, expected at least 4'):
        open_detection_scene(str(src), [1, 2, 4])


def test_detector_adapter_and_the_channel_order_rule():
    from mmengine.config import Config

    assert trained_on_bgr(Config.fromfile(str(DIOR_CONFIG)))  # OpenCV's LoadImageFromFile
    rasterio_loaded = dict(test_pipeline=[dict(type='LoadMultiBandImage', bands=[1, 2, 3])])
    assert not trained_on_bgr(rasterio_loaded)

    class FakeDetector(torch.nn.Module):
        roi_head = None

    spec = SceneSpec([ModalityInput('img', bands=[1, 2, 3])])
    adapter = build_adapter(FakeDetector(), spec)
    assert isinstance(adapter, DetectorAdapter) and adapter.reverse_channels is False
