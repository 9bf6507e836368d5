"""The loop over a scene's tiles: read, compute once, hand to a sink.

``run_tiles`` is the one loop of every path over a scene: it reads the tiles of a ``TileGrid``
(``SceneInputs.grid``) in row-major order through the ``SceneInputs``, ``batch_size`` at a
time, skips those without a valid output pixel, calls the model adapter once per batch and
hands the outputs to a sink, the product (``BlendAccumulator`` for class and change maps,
``BoxSink`` for detections, which merges boxes in ``finish``). On any failure the sink's
``abort`` removes its partial outputs and the error goes on. Torch is imported only for a torch
model (``is_torch_module``): an exported model runs through this loop without it.

Reading overlaps the model: a reader thread reads the next ``prefetch`` batches (GDAL decodes
without holding the GIL) into a bounded queue while the model computes, so memory grows by
those batches only. The scene's handles are used by that thread alone while it runs.
"""

import contextlib
import os.path as osp
import queue
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mmskysense.datasets.raster import gdal_cache
from mmskysense.datasets.tiling import TileGrid

from .accumulator import BlendAccumulator
from .inputs import ScaleWarning, SceneInputs, TileBatch, check_value_scale
from .spec import ModalityInput, SceneSpec, scene_spec
from .writer import DEFAULT_NODATA, ClassMapWriter


def is_torch_module(obj: Any) -> bool:
    """``obj`` is a ``torch.nn.Module``; False without importing torch when nothing has (no
    object can then be one)."""
    torch = sys.modules.get('torch')
    return torch is not None and isinstance(obj, torch.nn.Module)


class TileSink(Protocol):
    """A product of a scene (docs/interfaces.md, The loop and its sinks)."""

    def add(self, batch: TileBatch, outputs: Any) -> None:
        """Take the model's ``outputs`` for the tiles of ``batch``."""

    def finish(self) -> Any:
        """After the last tile: complete the product (rename its file into place)."""

    def abort(self) -> None:
        """On failure: remove every partial output, never leave a half-written file."""


@dataclass
class TileStats:
    """Tiles of the grid (``total``), run through the model (``computed``, each once), and
    skipped because they hold no valid output pixel (``skipped``)."""

    total: int = 0
    computed: int = 0
    skipped: int = 0


@dataclass
class SceneResult:
    path: str
    stats: TileStats


def warn_unused_block(block: int | None) -> None:
    """The ``block`` argument of the block algorithm this loop replaced: accepted, unused."""
    if block is not None:
        warnings.warn(
            'block is no longer used and will be removed: each tile is computed once and '
            'memory is bounded by tile, overlap and batch_size, not by output blocks',
            FutureWarning,
            stacklevel=3,
        )


@contextlib.contextmanager
def intra_op_threads(threads: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to ``threads`` meanwhile (None: left as they are; without
    torch imported, an exported model's run, there is nothing to set)."""
    torch = sys.modules.get('torch')
    before = torch.get_num_threads() if torch is not None else None
    if threads is None or torch is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Prefetcher:
    """Reads the batches of ``tiles`` in a thread, at most ``depth`` ahead of the consumer.

    Yields ``(batch or None, tiles read, tiles skipped)``; a reader's exception is raised in the
    consumer. ``close`` stops the thread (at its next batch) and waits for it."""

    _END = object()

    def __init__(self, read_batch: Callable, starts: list[int], depth: int, cache_mb: int):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(read_batch, starts, cache_mb), name='tile-reader', daemon=True
        )
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, read_batch: Callable, starts: list[int], cache_mb: int) -> None:
        try:
            # GDAL's configuration is per thread: bound this thread's cache too
            with gdal_cache(cache_mb):
                for start in starts:
                    if self._stop.is_set() or not self._put(read_batch(start)):
                        return
        except BaseException as e:  # handed to the consumer, which re-raises it
            self._put(e)
            return
        self._put(self._END)

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def run_tiles(
    scene: SceneInputs,
    grid: TileGrid,
    model: Callable[[TileBatch], Any],
    sink: TileSink,
    batch_size: int = 4,
    progress: bool = True,
    desc: str | None = None,
    gdal_cache_mb: int = 64,
    prefetch: int = 2,
    sink_threads: int | None = 1,
) -> tuple[Any, TileStats]:
    """Run ``model`` once on every tile of ``grid`` that holds a valid output pixel and hand
    the outputs to ``sink``; GDAL's block cache is bounded by ``gdal_cache_mb`` meanwhile (its
    default grows with the pixels read). ``prefetch``: batches read ahead by a reader thread
    while the model computes (0: read in the loop, between the model's calls).
    ``sink_threads``: torch's intra-op threads while the sink works (None: the model's). A
    sink's per-pixel work on a tile is too small to share: on a busy 2-core machine the
    class-map sink ran 7x slower on 2 threads than on 1 (wake-ups, waits for a descheduled
    thread); ``benchmarks/bench_scene_inference.py`` measures it.

    Returns ``(sink.finish(), stats)``. On any exception, the arguments refused included,
    ``sink.abort()`` is called before it goes on.
    """
    from tqdm import tqdm

    bar = reader = None
    try:
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        if prefetch < 0:
            raise ValueError(f'prefetch must be >= 0, got {prefetch}')
        if sink_threads is not None and sink_threads < 1:
            raise ValueError(f'sink_threads must be >= 1 or None, got {sink_threads}')
        if (grid.height, grid.width) != (scene.height, scene.width):
            raise ValueError(
                f'{grid} does not cover the scene grid {scene.height} x {scene.width} of '
                f'{scene.reference_path}'
            )
        stats = TileStats(total=len(grid))
        tiles = list(grid)
        bar = tqdm(
            total=len(tiles),
            desc=desc or f'tiles of {osp.basename(scene.reference_path)}',
            unit='tile',
            disable=not progress,
        )

        def read_batch(start: int) -> tuple[TileBatch | None, int, int]:
            batch = scene.read(tiles[start : start + batch_size])
            keep = [n for n in range(len(batch)) if batch.out_valid[n].any()]
            if not keep:
                return None, len(batch), len(batch)
            if len(keep) < len(batch):
                return batch.select(keep), len(batch), len(batch) - len(keep)
            return batch, len(batch), 0

        starts = list(range(0, len(tiles), batch_size))
        checked = False
        with gdal_cache(gdal_cache_mb):
            if prefetch:
                reader = _Prefetcher(read_batch, starts, prefetch, gdal_cache_mb)
                batches = iter(reader)
            else:
                batches = map(read_batch, starts)
            for batch, read, skipped in batches:
                stats.skipped += skipped
                if batch is not None:
                    if not checked:  # the scale guard, on the first tiles holding data
                        for message in check_value_scale(scene.spec, batch):
                            warnings.warn(message, ScaleWarning, stacklevel=2)
                        checked = True
                    outputs = model(batch)
                    stats.computed += len(batch)
                    with intra_op_threads(sink_threads):
                        sink.add(batch, outputs)
                bar.update(read)
            if reader is not None:
                reader.close()
                reader = None
        with intra_op_threads(sink_threads):
            result = sink.finish()
    except BaseException:
        if reader is not None:
            reader.close()  # before abort: the thread may still hold the scene's files
        sink.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    return result, stats


def segment_scene(
    model: Any,
    scene: SceneInputs,
    dst_path: str,
    num_classes: int,
    tile: int = 512,
    overlap: int = 128,
    batch_size: int = 4,
    confidence: bool = False,
    class_names: Sequence[str] | None = None,
    palette: Sequence[Sequence[int]] | None = None,
    nodata: int = DEFAULT_NODATA,
    progress: bool = True,
    gdal_cache_mb: int = 64,
    carry_mb: float = 256,
    device: str = 'cpu',
    prefetch: int = 2,
) -> SceneResult:
    """The class map of ``scene`` (a COG at ``dst_path``, on the scene's output grid).

    Args:
        model: an adapter (``TileBatch -> N x K x h x w`` probabilities) or a segmentor /
            classifier / multi-modal model (``build_adapter``).
        scene: the opened inputs (``SceneInputs.open``).
        num_classes: ``K`` (below ``nodata``).
        tile: tile size, in output pixels.
        overlap: overlap of neighbouring tiles, in output pixels.
        batch_size: tiles per forward pass.
        confidence: also write the confidence band.
        class_names: stored in the file.
        palette: stored in the file.
        gdal_cache_mb: GDAL's block cache for the run (its default grows with the pixels read).
        carry_mb: the carry-over strip between rows of tiles goes to a temporary file when
            larger.
        device: where a model (not an adapter) runs.
        prefetch: batches read ahead while the model computes (``run_tiles``).
    """
    if is_torch_module(model):
        from .adapters import build_adapter

        model = build_adapter(model, scene.spec, device)
    grid = scene.grid(tile, overlap)
    writer = ClassMapWriter(
        dst_path,
        scene.height,
        scene.width,
        scene.crs,
        scene.transform,
        num_classes,
        confidence,
        nodata,
        class_names,
        palette,
        nodata_rule=scene.nodata_rule,
    )
    try:
        sink = BlendAccumulator(grid, num_classes, writer, carry_mb)
    except BaseException:
        writer.abort()
        raise
    desc = f'segmenting {osp.basename(scene.reference_path)}'
    path, stats = run_tiles(
        scene, grid, model, sink, batch_size, progress, desc, gdal_cache_mb, prefetch
    )
    return SceneResult(path, stats)


def segment_geotiff(
    model: Any,
    inputs: str,
    output: str,
    num_classes: int | None = None,
    *,
    tile: int = 512,
    overlap: int = 128,
    batch_size: int = 4,
    block: int | None = None,
    bands: Sequence[int] | None = None,
    nodata_value: int = DEFAULT_NODATA,
    progress: bool = True,
    gdal_cache_mb: int = 64,
    confidence: bool = False,
    class_names: Sequence[str] | None = None,
    palette: Sequence[Sequence[int]] | None = None,
    carry_mb: float = 256,
    device: str = 'cpu',
) -> str:
    """Segment the GeoTIFF ``inputs`` into a class map ``output`` (its CRS and transform); the
    scene entry points' convention: ``(model, inputs, output, classes, *, options)``. The
    arguments not listed below are ``segment_scene``'s.

    Args:
        model: a segmentor or classifier (its adapter, ``build_adapter``), or a function of the
            tiles ``N x C x tile x tile`` (the raster's dtype, as a tensor) -> probabilities
            ``N x num_classes x tile x tile``.
        num_classes: ``K`` (default: ``len(class_names)``).
        block: unused (the block algorithm's output block; a FutureWarning when given).
        bands: 1-based bands to read, in the model's order (default: all).
        nodata_value: written where the input holds no data in any band.
    Returns:
        ``output``.
    """
    warn_unused_block(block)
    if num_classes is None:
        if not class_names:
            raise ValueError('segment_geotiff: give num_classes or class_names')
        num_classes = len(class_names)
    if not is_torch_module(model):
        from .adapters import TensorFunctionAdapter

        model = TensorFunctionAdapter(model)
    cfg = getattr(model, 'cfg', None)  # a model from init_model: its config says its input
    if cfg is not None:
        spec = scene_spec(cfg, bands)
    else:
        spec = SceneSpec([ModalityInput('img', bands=list(bands) if bands else None)])
    with SceneInputs.open(spec, {spec.reference.name: [inputs]}) as scene:
        result = segment_scene(
            model,
            scene,
            output,
            num_classes,
            tile,
            overlap,
            batch_size,
            confidence,
            class_names,
            palette,
            nodata_value,
            progress,
            gdal_cache_mb,
            carry_mb,
            device,
        )
    return result.path
