"""Object detection over a GeoTIFF scene of any size, by overlapping patches.

The one scene loop (:func:`~mmskysense.apis.scene.runner.run_tiles`) with detection's parts: the
scene is opened and checked by :class:`~mmskysense.apis.scene.inputs.SceneInputs` (before any
model exists), cut into the tile grid (``tile`` x ``tile`` windows, stride ``tile - overlap``,
the last window moved back inside the scene), read ``batch_size`` patches at a time (patches
without data skipped), run through a detector adapter
(:class:`~mmskysense.apis.scene.adapters.DetectorAdapter`, or any function of the patches), and
collected by the box sink (:class:`~mmskysense.apis.scene.box_sink.BoxSink`), which moves each
patch's boxes to scene pixels, merges the detections of overlapping patches in ``finish``
(:mod:`mmskysense.apis.detection_merge`) and writes the GeoJSON in the scene's CRS. Memory is
bounded by the patch batch for the imagery; the detections are kept as arrays until the merge.
"""

import os
import os.path as osp
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .scene.adapters import DetectorAdapter, TensorFunctionAdapter, build_adapter
from .scene.box_sink import (
    DEFAULT_IOU_THR,
    BoxSink,
    SceneDetections,
    check_geojson_path,
    write_detections_geojson,
)
from .scene.inputs import SceneInputs
from .scene.runner import run_tiles
from .scene.spec import ModalityInput, SceneSpec, trained_on_bgr

__all__ = [
    'DEFAULT_IOU_THR',
    'SceneDetections',
    'detect_geotiff',
    'detect_scene',
    'detector_predict_fn',
    'open_detection_scene',
    'write_detection_preview',
    'write_detections_geojson',
]


def detector_predict_fn(
    model: torch.nn.Module, device: str = 'cpu', reverse_channels: bool | None = None
) -> Callable[[torch.Tensor], list[dict]]:
    """Wrap an mmdet / mmrotate detector: RGB patches ``N x C x h x w`` -> a list of
    ``dict(bboxes, scores, labels)`` in patch pixels (``DetectorAdapter.predict_tensor``).

    ``reverse_channels`` None: a model that carries its config (``init_model``) and was trained
    on OpenCV-loaded (BGR) images (``trained_on_bgr``) is handed the RGB bands reversed, so it
    sees what it saw in training.
    """
    if reverse_channels is None:
        cfg = getattr(model, 'cfg', None)
        reverse_channels = cfg is not None and trained_on_bgr(cfg)
    return DetectorAdapter(model, device, reverse_channels=reverse_channels).predict_tensor


def open_detection_scene(src_path: str, bands: Sequence[int] | None = None) -> SceneInputs:
    """The scene ``src_path`` for a detector of one input: opened, checked complete, its
    ``bands`` (1-based, default 1, 2, 3) checked; errors name the file."""
    spec = SceneSpec([ModalityInput('img', bands=list(bands) if bands else [1, 2, 3])])
    return SceneInputs.open(spec, {'img': [src_path]})


def detect_scene(
    model: Any,
    scene: SceneInputs,
    dst_path: str | None,
    class_names: Sequence[str],
    tile: int = 1024,
    overlap: int = 200,
    batch_size: int = 4,
    score_thr: float = 0.05,
    iou_thr: float | None = None,
    iof_thr: float = 0.7,
    edge_margin: float = 2.0,
    progress: bool = True,
    gdal_cache_mb: int = 64,
    device: str = 'cpu',
) -> SceneDetections:
    """Detect objects in an opened scene; write them to the GeoJSON ``dst_path``.

    Args:
        model: an adapter (``TileBatch`` -> list of ``dict(bboxes, scores, labels)`` in tile
            pixels) or a detector (``build_adapter``).
        scene: the opened inputs (``open_detection_scene``, ``SceneInputs.open``).
        dst_path: ``.geojson`` / ``.json`` output, or None to only return the detections.
        class_names: the model's classes, for the ``class`` property.
        tile, overlap: patch size and overlap in pixels; the overlap should exceed the largest
            object, so that every object is seen whole by some patch.
        batch_size: patches per forward pass (bounds the memory with ``tile``).
        score_thr, iou_thr, iof_thr, edge_margin: see ``BoxSink``.
        gdal_cache_mb: GDAL's block cache for the run (its default grows with the pixels read).
        device: where a model (not an adapter) runs.
    """
    check_geojson_path(dst_path)
    if isinstance(model, torch.nn.Module):
        model = build_adapter(model, scene.spec, device)
    grid = scene.grid(tile, overlap)
    sink = BoxSink(
        scene.height,
        scene.width,
        class_names,
        dst_path,
        scene.crs,
        scene.transform,
        score_thr,
        iou_thr,
        iof_thr,
        edge_margin,
        source=scene.reference_path,
    )
    desc = f'detecting in {osp.basename(scene.reference_path)}'
    dets, stats = run_tiles(scene, grid, model, sink, batch_size, progress, desc, gdal_cache_mb)
    dets.stats = dict(patches=stats.total, empty_patches=stats.skipped, **dets.stats)
    return dets


def detect_geotiff(
    model: torch.nn.Module | Callable[[torch.Tensor], list[dict]],
    inputs: str,
    output: str | None,
    class_names: Sequence[str],
    *,
    tile: int = 1024,
    overlap: int = 200,
    batch_size: int = 4,
    bands: Sequence[int] | None = None,
    device: str = 'cpu',
    **options: Any,
) -> SceneDetections:
    """Detect objects in the scene ``inputs``; write them to the GeoJSON ``output`` (None:
    only return them); the scene entry points' convention: ``(model, inputs, output, classes,
    *, options)``.

    Args:
        model: a detector (its adapter: a model carrying its config, from ``init_model``, is
            handed the bands in the order it was trained with, ``trained_on_bgr``), or a
            function of the patches ``N x C x h x w`` (the file's dtype, as read) -> list of N
            ``dict(bboxes, scores, labels)`` in patch pixels (see :func:`detector_predict_fn`).
        bands: 1-based bands to read, in RGB order (default: 1, 2, 3).
        options: ``score_thr``, ``iou_thr``, ``iof_thr``, ``edge_margin``, ``progress``,
            ``gdal_cache_mb``; these and the rest: see :func:`detect_scene`.
    """
    check_geojson_path(output)
    if isinstance(model, torch.nn.Module):
        cfg = getattr(model, 'cfg', None)
        reverse = cfg is not None and trained_on_bgr(cfg)
        model = DetectorAdapter(model, device, reverse_channels=reverse)
    else:
        model = TensorFunctionAdapter(model)
    with open_detection_scene(inputs, bands) as scene:
        return detect_scene(
            model,
            scene,
            output,
            class_names,
            tile,
            overlap,
            batch_size,
            **options,
        )


def write_detection_preview(
    src_path: str,
    dets: SceneDetections,
    png_path: str,
    bands: Sequence[int] = (1, 2, 3),
    max_size: int = 1024,
    title: str | None = None,
) -> str:
    """A PNG of the scene (read decimated, contrast-stretched) with the boxes drawn in class
    colours and a legend of the classes found."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Polygon

    from mmskysense.datasets.raster import open_raster
    from mmskysense.visualization.preview import preview_size, read_stretched

    with open_raster(src_path, expected='the scene image') as src:
        h, w = preview_size(src.height, src.width, max_size)
        img = read_stretched(src, list(bands), (h, w), src_path)
    fig, ax = plt.subplots(figsize=(8, 8 * h / w), dpi=100, layout='constrained')
    ax.imshow(img)
    ax.set_axis_off()
    ax.set_title(title or f'{len(dets)} detections in {osp.basename(src_path)}')
    cmap = plt.get_cmap('tab20')
    sx, sy = w / dets.width, h / dets.height
    for corners, label in zip(dets.pixel_polygons(), dets.labels.tolist()):
        ax.add_patch(
            Polygon(
                corners * [sx, sy],
                closed=True,
                fill=False,
                linewidth=1.2,
                edgecolor=cmap(label % 20),
            )
        )
    present = sorted(set(dets.labels.tolist()))
    if present:
        fig.legend(
            handles=[Patch(color=cmap(c % 20), label=dets.class_names[c]) for c in present],
            loc='outside lower center',
            ncol=min(len(present), 5),
            frameon=False,
        )
    dst_dir = osp.dirname(osp.abspath(png_path))
    os.makedirs(dst_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.png', dir=dst_dir)
    os.close(fd)
    try:
        fig.savefig(tmp, bbox_inches='tight')
        os.replace(tmp, png_path)
    finally:
        plt.close(fig)
        if osp.exists(tmp):
            os.remove(tmp)
    return png_path
