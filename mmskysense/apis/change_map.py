"""Change maps from two GeoTIFFs of the same ground at two dates, by tiles with bounded memory.

The two scenes must share a CRS and a pixel size and overlap; their pixel grids may differ by a
whole-pixel window offset (one scene cut from a larger grid, say): the overlap is found in
ground coordinates and each scene is read through its own window of it, never resampled. A
fractional offset, another resolution, a rotation or another CRS is refused with both files
named (resample one scene onto the other's grid first, e.g. with ``gdalwarp``).

The change map covers the overlap: its CRS is the scenes', its transform the overlap's, and it
holds ``0`` (unchanged), ``1`` (changed) or ``nodata_value`` where either date has no data (in
all its bands). It is the large-scene loop of every other path (``mmskysense.apis.scene``): the
pair is a scene of one two-date series input (``open_change_pair``), whose tiles (``N x 2C x h
x w``, date 1's bands then date 2's, the change detector's input) are each computed once and
blended into the class-map COG by ``segment_scene``.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from mmskysense.datasets.raster_io import open_raster

from .scene import (
    DEFAULT_NODATA,
    Frame,
    ModalityInput,
    SceneInputs,
    SceneSpec,
    TensorFunctionAdapter,
    segment_scene,
)
from .scene.runner import warn_unused_block

CHANGE_CLASSES = ('unchanged', 'changed')
CHANGE_PALETTE = [[40, 40, 40], [255, 60, 40]]
#: how far (in pixels) the grids may be from a whole-pixel offset, and the pixel sizes apart
_GRID_TOL = 1e-6


@dataclass
class PairOverlap:
    """The common window of two scenes: ``height`` x ``width`` pixels starting at
    ``(row1, col1)`` in scene 1 and ``(row2, col2)`` in scene 2, with ``transform``."""

    row1: int
    col1: int
    row2: int
    col2: int
    height: int
    width: int
    transform: object
    crs: object


def pair_overlap(src1, src2) -> PairOverlap:
    """The overlap of two open rasterio datasets, or a ValueError naming both files."""
    names = f'{src1.name} and {src2.name}'
    if src1.crs is None or src2.crs is None:
        missing = src1.name if src1.crs is None else src2.name
        raise ValueError(f'{missing} has no CRS: cannot place it against the other date')
    if src1.crs != src2.crs:
        raise ValueError(
            f'{names} have different CRS ({src1.crs} vs {src2.crs}); '
            'reproject one onto the other first'
        )
    t1, t2 = src1.transform, src2.transform
    for name, v1, v2 in (
        ('pixel width', t1.a, t2.a),
        ('pixel height', t1.e, t2.e),
        ('rotation', t1.b, t2.b),
        ('rotation', t1.d, t2.d),
    ):
        if abs(v1 - v2) > _GRID_TOL * max(abs(v1), abs(v2), 1.0):
            raise ValueError(
                f'{names} differ in {name} ({v1} vs {v2}): their pixel grids '
                'must be the same up to a window offset'
            )
    if t1.b or t1.d:
        raise ValueError(f'{names}: rotated grids are not supported')
    # the offset of scene 2's origin in scene 1's pixels must be whole
    dcol = (t2.c - t1.c) / t1.a
    drow = (t2.f - t1.f) / t1.e
    if abs(dcol - round(dcol)) > 1e-3 or abs(drow - round(drow)) > 1e-3:
        raise ValueError(
            f'{names}: the grids are offset by ({drow:.3f}, {dcol:.3f}) pixels '
            '(row, col), not a whole number: resample one onto the other first'
        )
    dcol, drow = int(round(dcol)), int(round(drow))
    # in scene 1's pixel frame, scene 2 spans rows [drow, drow + h2), cols [dcol, dcol + w2)
    r0, r1 = max(0, drow), min(src1.height, drow + src2.height)
    c0, c1 = max(0, dcol), min(src1.width, dcol + src2.width)
    if r1 <= r0 or c1 <= c0:
        raise ValueError(
            f'{names} do not overlap (bounds {tuple(src1.bounds)} and {tuple(src2.bounds)})'
        )
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    transform = window_transform(Window(c0, r0, c1 - c0, r1 - r0), t1)
    return PairOverlap(
        row1=r0,
        col1=c0,
        row2=r0 - drow,
        col2=c0 - dcol,
        height=r1 - r0,
        width=c1 - c0,
        transform=transform,
        crs=src1.crs,
    )


def _check_bands(srcs, bands: Sequence[int] | None) -> None:
    for src in srcs:
        if bands:
            bad = [b for b in bands if not 1 <= b <= src.count]
            if bad:
                raise ValueError(
                    f'{src.name} has {src.count} bands; band indexes {bad} do not exist'
                )
    if not bands and srcs[0].count != srcs[1].count:
        raise ValueError(
            f'{srcs[0].name} has {srcs[0].count} bands and {srcs[1].name} '
            f'{srcs[1].count}: the dates must have the same bands (or pass bands)'
        )


def open_change_pair(
    date1_path: str, date2_path: str, bands: Sequence[int] | None = None
) -> SceneInputs:
    """The scene of a change pair: one two-date series input ``'img'`` on the overlap of the
    two grids, defined where both dates hold data (``valid_dates='all'``).

    Every failure names the file(s): missing, empty, not a raster or truncated
    (``RasterError``; a missing file is also a ``FileNotFoundError``), bands that do not exist
    or differ, grids that cannot be paired (``pair_overlap``).
    """
    srcs = []
    try:
        for n, path in enumerate((date1_path, date2_path), 1):
            srcs.append(
                open_raster(
                    path, expected=f'date {n} of the change pair, a GeoTIFF', check_complete=True
                )
            )
        _check_bands(srcs, bands)
        ov = pair_overlap(*srcs)
        indexes = list(bands) if bands else list(range(1, srcs[0].count + 1))
    finally:
        for src in srcs:
            src.close()
    spec = SceneSpec([ModalityInput('img', num_dates=2, bands=indexes)], valid_dates='all')
    frames = {'img': [Frame(date1_path, indexes), Frame(date2_path, indexes)]}
    # date 1 is the reference: the overlap is its window (row1, col1); date 2 is read through
    # its own transform for each tile's ground box, a whole-pixel window of it (exact)
    return SceneInputs(spec, frames, (ov.row1, ov.col1, ov.height, ov.width), spec.valid_dates)


def change_map_geotiff(
    predict_fn: Callable[[torch.Tensor], torch.Tensor],
    date1_path: str,
    date2_path: str,
    dst_path: str,
    tile: int = 512,
    overlap: int = 128,
    batch_size: int = 4,
    block: int | None = None,
    bands: Sequence[int] | None = None,
    nodata_value: int = DEFAULT_NODATA,
    num_classes: int = 2,
    progress: bool = True,
    gdal_cache_mb: int = 16,
    class_names: Sequence[str] | None = None,
    palette: Sequence[Sequence[int]] | None = None,
    confidence: bool = False,
) -> str:
    """Write the change map of the overlap of ``date1_path`` and ``date2_path`` to ``dst_path``.

    Args:
        predict_fn: tiles ``N x 2C x h x w`` (date 1's bands, then date 2's; the rasters'
            dtype) -> probabilities ``N x num_classes x h x w`` (e.g.
            ``segmentor_predict_fn(change_detector)``).
        tile, overlap, batch_size: tiling as in ``segment_geotiff``.
        block: unused (the block algorithm's output block; a FutureWarning when given).
        bands: 1-based bands read from both scenes, in the model's order (default: all; the
            scenes must then have the same band count).
        nodata_value: written where either date has no data.
        num_classes: classes the model predicts (2: unchanged / changed).
        gdal_cache_mb: GDAL's block cache for this call (memory must not grow with the scene).
        class_names, palette: stored in the file (default: ``CHANGE_CLASSES`` and
            ``CHANGE_PALETTE`` for two classes).
        confidence: also write the confidence band.
    Returns:
        ``dst_path``.
    """
    warn_unused_block(block)
    if not 0 < num_classes <= nodata_value:
        raise ValueError(f'num_classes must be in 1..{nodata_value}, got {num_classes}')
    if num_classes == len(CHANGE_CLASSES):
        class_names = CHANGE_CLASSES if class_names is None else class_names
        palette = CHANGE_PALETTE if palette is None else palette
    with open_change_pair(date1_path, date2_path, bands) as scene:
        result = segment_scene(
            TensorFunctionAdapter(predict_fn),
            scene,
            dst_path,
            num_classes,
            tile=tile,
            overlap=overlap,
            batch_size=batch_size,
            confidence=confidence,
            class_names=class_names,
            palette=palette,
            nodata=nodata_value,
            progress=progress,
            gdal_cache_mb=gdal_cache_mb,
        )
    return result.path


def write_change_preview(
    change_map_path: str,
    png_path: str,
    date1_path: str,
    date2_path: str,
    image_bands: Sequence[int] = (1, 2, 3),
    max_size: int = 768,
) -> str:
    """A PNG of the two dates over the overlap (``image_bands``, contrast-stretched) beside the
    change map, read decimated so large scenes stay cheap (``write_preview``)."""
    from mmskysense.visualization import write_preview

    return write_preview(
        change_map_path,
        png_path,
        CHANGE_CLASSES,
        CHANGE_PALETTE,
        max_size=max_size,
        title='change map',
        image_path=[date1_path, date2_path],
        image_bands=image_bands,
        nodata_label='no data (either date)',
    )


__all__ = [
    'PairOverlap',
    'pair_overlap',
    'open_change_pair',
    'change_map_geotiff',
    'write_change_preview',
    'CHANGE_CLASSES',
]
