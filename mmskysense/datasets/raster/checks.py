"""The checks every read makes: the one band check, north-up, and CRS plus coverage of a box.

The one overlap rule: ``box_overlap`` is the ground shared by several extents;
``overlap_window`` is the whole pixels of a reference grid inside it (a scene's output grid,
``SceneInputs.open``), ``check_covers`` requires a ground read's box to be its own overlap with
the file (training and scene inference, through ``GroundWindowReader``), and the sample index
stores a sample's shared extent by it (``datasets.geo.index``).
"""

import math
import os.path as osp
from collections.abc import Sequence
from typing import Any

from .crs import _crs_from_string, crs_name
from .errors import GeoSampleError

Box = tuple[float, float, float, float]  # (minx, miny, maxx, maxy) in CRS units
#: a fractional pixel range of a grid: (col_lo, row_lo, col_hi, row_hi)
PixelSpan = tuple[float, float, float, float]


def check_bands(
    path: str, count: int, bands: Sequence[int], what: str = '', unit: str = 'bands'
) -> None:
    """The one band check: 1-based ``bands`` must exist among a file's ``count`` bands (or an
    array's channels); else a ``GeoSampleError`` naming the file, its count and the bad bands.
    ``what`` describes the bands (``'bands [1, 2] of this frame'``), ``unit`` what ``count``
    counts (``'bands per date'``)."""
    bad = [b for b in bands if not 1 <= b <= count]
    if bad:
        about = f' ({what})' if what else ''
        raise GeoSampleError(
            f'{path}: has {count} {unit}, expected at least {max(bands)}{about} '
            f'({osp.basename(path)} has {count} {unit}; cannot read bands {bad}, 1-based)',
            path,
        )


def check_north_up(src: Any, path: str) -> None:
    """Refuse a rotated raster or one whose rows do not run north to south."""
    t = src.transform
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        raise GeoSampleError(
            f'{path}: transform {tuple(t)[:6]} is not north-up; expected no '
            f'rotation and a negative y pixel size (warp it with gdalwarp)',
            path,
        )


def check_raster(
    src: Any,
    path: str,
    bands: Sequence[int],
    crs: str | None,
    box: Box,
    crs_ok: set[str] | None = None,
    crs_owner: str = 'the sample',
) -> None:
    """Refuse a raster whose CRS, orientation, band count or extent do not fit ``box``.

    ``crs`` None skips the CRS check. ``crs_ok``: CRS strings this open handle already matched
    (comparing CRSs costs ~0.1 ms and a sample makes a hundred reads); updated in place.
    """
    if crs is None or (crs_ok is not None and crs in crs_ok):
        pass
    elif src.crs is None or src.crs != _crs_from_string(crs):
        raise GeoSampleError(
            f'{path}: CRS {crs_name(src.crs)} differs from {crs_owner} CRS {crs}; all inputs '
            f'must share one CRS (reproject with gdalwarp -t_srs)',
            path,
        )
    elif crs_ok is not None:
        crs_ok.add(crs)
    check_north_up(src, path)
    check_bands(path, src.count, bands, f'bands {list(bands)} of this frame')
    check_covers(path, src, box, crs_owner)


def box_overlap(boxes: Sequence[Box]) -> Box:
    """The ground shared by every box of ``boxes``; empty (max <= min on an axis) when they
    do not all overlap."""
    return (
        max(b[0] for b in boxes),
        max(b[1] for b in boxes),
        min(b[2] for b in boxes),
        min(b[3] for b in boxes),
    )


def grid_box(transform: Any, shape: tuple[int, int]) -> Box:
    """The ground extent ``(minx, miny, maxx, maxy)`` of a grid of ``shape`` ``(h, w)``."""
    t, (h, w) = transform, shape
    x0, y0, x1, y1 = t.c, t.f, t.c + w * t.a, t.f + h * t.e
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def pixel_span(transform: Any, box: Box) -> PixelSpan:
    """The ground ``box`` in the pixels of the grid of ``transform`` (north-up, or a pixel
    grid with rows down): ``(col_lo, row_lo, col_hi, row_hi)``, fractional, lo <= hi."""
    t = transform
    c0, c1 = (box[0] - t.c) / t.a, (box[2] - t.c) / t.a
    r0, r1 = (box[1] - t.f) / t.e, (box[3] - t.f) / t.e
    return min(c0, c1), min(r0, r1), max(c0, c1), max(r0, r1)


def overlap_window(
    transform: Any, shape: tuple[int, int], boxes: Sequence[Box], tol: float = 1e-6
) -> tuple[int, int, int, int] | None:
    """The one grid-overlap rule: the whole pixels of a reference grid (``transform``,
    ``shape`` ``(height, width)``) inside every ground box of ``boxes`` (the other files'
    extents), as ``(row0, col0, height, width)``; None when not one pixel is.
    A pixel edge within ``tol`` pixel of a box edge counts as on it (float rounding)."""
    shared = box_overlap([grid_box(transform, shape), *boxes])
    c_lo, r_lo, c_hi, r_hi = pixel_span(transform, shared)
    if shared[2] < shared[0] or shared[3] < shared[1]:
        return None  # disjoint: the span's lo/hi were swapped by pixel_span
    c0, r0 = math.ceil(c_lo - tol), math.ceil(r_lo - tol)
    c1, r1 = math.floor(c_hi + tol), math.floor(r_hi + tol)
    if c1 <= c0 or r1 <= r0:
        return None
    return r0, c0, r1 - r0, c1 - c0


def check_covers(path: str, src: Any, box: Box, owner: str = 'the sample') -> None:
    """The overlap rule of a ground read: the file's extent must contain ``box`` within a
    thousandth of its pixel (float rounding of the boxes); no read is padded with zeros.
    By ``box_overlap``: the part of ``box`` inside the file is the box itself."""
    t = src.transform
    tol_x, tol_y = abs(t.a) * 1e-3, abs(t.e) * 1e-3
    shared = box_overlap([tuple(src.bounds), box])
    if any(abs(s - b) > tol for s, b, tol in zip(shared, box, (tol_x, tol_y, tol_x, tol_y))):
        whose = owner if owner.endswith("'s") else f"{owner}'s"
        extent = tuple(round(v, 3) for v in src.bounds)
        raise GeoSampleError(
            f'{path}: extent {extent} does not cover the requested ground box '
            f'{tuple(round(v, 3) for v in box)}: {osp.basename(path)} covers ground '
            f'({crs_name(src.crs)}) that does not contain {whose} box; the extents of the '
            f'inputs do not overlap as expected',
            path,
        )
