"""The scene engine's fast paths (issue 29): ``run_tiles`` reading ahead in a thread, and the
segmentor adapter's bf16 and channels-last options."""

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.modules import REPO, load_module
from helpers.tiny import tiny_upernet

from mmskysense.apis.scene import (
    ModalityInput,
    SceneInputs,
    SceneSpec,
    SegmentorAdapter,
    build_adapter,
    run_tiles,
)
from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules

toys = load_module('scene_toys', Path(__file__).with_name('scene_toys.py'))
cli = load_module('infer_large_scene', REPO / 'tools' / 'infer_large_scene.py')
SPEC = SceneSpec([ModalityInput('img', bands=[1, 2, 3])])


class _Record:
    """A sink keeping every tile's output and the order of the loop's events."""

    def __init__(self, events):
        self.events, self.outputs, self.aborted, self.finished = events, {}, False, False

    def add(self, batch, outputs):
        self.events.append(('add', len(batch)))
        for tile, out in zip(batch.tiles, outputs, strict=True):
            self.outputs[(tile.i, tile.j)] = out.clone()

    def finish(self):
        self.finished = True
        return self.outputs

    def abort(self):
        self.aborted = True


def _context_model(events):
    """Depends on the whole tile (its mean per band): a tile handed to the wrong output, or
    read twice, changes the result."""

    def model(batch):
        events.append(('model', threading.current_thread().name))
        x = torch.from_numpy(batch.inputs['img']).float()
        return x.mean(dim=(2, 3))

    return model


def _run(path, prefetch, batch_size=2, model=None, read_hook=None):
    events = []
    sink = _Record(events)
    with SceneInputs.open(SPEC, {'img': [str(path)]}) as scene:
        read = scene.read

        def recording_read(tiles):
            events.append(('read', threading.current_thread().name))
            if read_hook is not None:
                read_hook(len([e for e in events if e[0] == 'read']))
            return read(tiles)

        scene.read = recording_read
        result, stats = run_tiles(
            scene,
            scene.grid(32, 8),
            model or _context_model(events),
            sink,
            batch_size,
            progress=False,
            prefetch=prefetch,
        )
    return result, stats, events, sink


def _reader_threads():
    return [t for t in threading.enumerate() if t.name == 'tile-reader']


def test_prefetch_reads_in_a_thread_and_gives_the_inline_result(tmp_path):
    # a nodata corner of 32 x 32 px: the first tile holds no data and is skipped
    path = toys.hr_scene(tmp_path / 'scene.tif', size=256)
    inline, stats0, events0, _ = _run(path, prefetch=0)
    ahead, stats2, events2, _ = _run(path, prefetch=2)
    assert stats0 == stats2 and stats0.skipped > 0
    assert stats0.computed + stats0.skipped == stats0.total
    assert inline.keys() == ahead.keys() and len(inline) == stats0.computed
    for key, out in inline.items():
        torch.testing.assert_close(ahead[key], out, rtol=0, atol=0)
    main = threading.current_thread().name
    assert {name for kind, name in events0 if kind == 'read'} == {main}
    assert {name for kind, name in events2 if kind == 'read'} == {'tile-reader'}
    assert {name for kind, name in events2 if kind == 'model'} == {main}
    assert not _reader_threads()


@pytest.mark.parametrize('prefetch', [1, 3])
def test_prefetch_reads_at_most_its_depth_ahead(tmp_path, prefetch):
    """Memory is bounded: when the model takes batch k, at most k + 1 + prefetch batches were
    read (those in the queue, and one the reader holds while the queue is full)."""
    path = toys.hr_scene(tmp_path / 'scene.tif', size=256, hole=False)
    _, stats, events, _ = _run(path, prefetch=prefetch, batch_size=1)
    reads = calls = 0
    for kind, _ in events:
        if kind == 'read':
            reads += 1
        elif kind == 'model':
            assert reads <= calls + 1 + prefetch + 1
            calls += 1
    assert calls == stats.computed == stats.total


def test_a_read_error_in_the_reader_reaches_the_caller_and_aborts(tmp_path):
    path = toys.hr_scene(tmp_path / 'scene.tif', size=256, hole=False)

    def fail_third(n):
        if n == 3:
            raise OSError(f'{path}: read failed at rows 96..160')

    with pytest.raises(OSError, match='read failed at rows'):
        _run(path, prefetch=2, batch_size=1, read_hook=fail_third)
    assert not _reader_threads()


def test_a_model_error_stops_the_reader_and_aborts(tmp_path):
    path = toys.hr_scene(tmp_path / 'scene.tif', size=256, hole=False)
    events, calls = [], []
    sink = _Record(events)

    def model(batch):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError('device lost')
        return torch.zeros(len(batch), 3)

    with SceneInputs.open(SPEC, {'img': [str(path)]}) as scene:
        with pytest.raises(RuntimeError, match='device lost'):
            run_tiles(scene, scene.grid(64, 16), model, sink, 1, False, prefetch=2)
    assert sink.aborted and not sink.finished
    assert not _reader_threads()


def test_refused_prefetch(tmp_path):
    path = toys.hr_scene(tmp_path / 'scene.tif', size=128)
    with pytest.raises(ValueError, match='prefetch must be >= 0'):
        _run(path, prefetch=-1)


# ---------------------------------------------------------------------- adapter options
def _segmentor():
    register_all_modules()
    torch.manual_seed(0)
    return MODELS.build(tiny_upernet(num_classes=4))


def test_segmentor_adapter_bf16_and_channels_last(one_intra_op_thread):
    import copy

    model = _segmentor().eval()
    g = torch.Generator().manual_seed(0)
    tiles = torch.randint(0, 256, (2, 3, 8, 8), generator=g, dtype=torch.uint8)
    tiles = tiles.repeat_interleave(8, 2).repeat_interleave(8, 3)
    fp32 = SegmentorAdapter(copy.deepcopy(model)).predict_tensor(tiles)
    assert fp32.dtype == torch.float32 and fp32.shape == (2, 4, 64, 64)
    nhwc_adapter = SegmentorAdapter(copy.deepcopy(model), channels_last=True)
    conv = nhwc_adapter.model.decode_head.fpn_bottleneck.conv.weight  # 3 x 3
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    nhwc = nhwc_adapter.predict_tensor(tiles)
    torch.testing.assert_close(nhwc, fp32, rtol=1e-4, atol=1e-5)
    bf16 = SegmentorAdapter(copy.deepcopy(model), precision='bf16').predict_tensor(tiles)
    assert bf16.dtype == torch.float32
    torch.testing.assert_close(bf16.sum(1), torch.ones(2, 64, 64))
    error = ((bf16 - fp32).norm() / fp32.norm()).item()
    assert 1e-4 < error < 0.05  # bf16 rounding (measured 1.1e-2), not another function
    assert (bf16.argmax(1) == fp32.argmax(1)).float().mean() > 0.95  # measured 0.997
    with pytest.raises(ValueError, match="precision must be one of \\('fp32', 'bf16'\\)"):
        SegmentorAdapter(model, precision='fp16')


def test_options_are_refused_for_other_adapters():
    class Detector(torch.nn.Module):
        roi_head = None

    with pytest.raises(ValueError, match='single-input segmentor'):
        build_adapter(Detector(), SPEC, precision='bf16')
    two = SceneSpec([ModalityInput('hr', bands=[1, 2, 3]), ModalityInput('s2', bands=[1])])
    with pytest.raises(ValueError, match='several inputs'):
        build_adapter(_segmentor(), two, channels_last=True)


def test_cli_refuses_bf16_for_detection_before_loading(tmp_path):
    scene = toys.hr_scene(tmp_path / 'scene.tif', size=128)
    ckpt = tmp_path / 'unused.pth'
    ckpt.write_bytes(b'not loaded')

    def load_model(*args):
        raise AssertionError('the model was loaded')

    with pytest.raises(SystemExit, match='apply to single-input segmentation'):
        cli.main(
            [str(toys.DEMO_CONFIG), str(ckpt), str(scene), str(tmp_path / 'boxes.geojson')]
            + ['--task', 'detection', '--precision', 'bf16', '--quiet'],
            load_model=load_model,
        )
    assert np.array_equal(sorted(p.name for p in tmp_path.iterdir()), ['scene.tif', 'unused.pth'])


@pytest.mark.parametrize('sink_threads', [1, None])
def test_the_sink_runs_on_sink_threads(tmp_path, sink_threads):
    path = toys.hr_scene(tmp_path / 'scene.tif', size=128, hole=False)
    seen = []

    class Sink(_Record):
        def add(self, batch, outputs):
            seen.append(torch.get_num_threads())

        def finish(self):
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with SceneInputs.open(SPEC, {'img': [str(path)]}) as scene:
            model = _context_model([])
            run_tiles(
                scene, scene.grid(64, 0), model, Sink([]), 2, False, sink_threads=sink_threads
            )
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [sink_threads or 2] * 3  # two batches of two tiles, then finish
