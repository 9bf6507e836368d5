"""The checks every read makes: the one band check, north-up, and CRS plus coverage of a box."""

import os.path as osp
from collections.abc import Sequence
from typing import Any

from .crs import _crs_from_string, crs_name
from .errors import GeoSampleError

Box = tuple[float, float, float, float]  # (minx, miny, maxx, maxy) in CRS units


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
            f'{path}: has {count} {unit}, expected at least {max(bands)}{about}; cannot read '
            f'bands {bad} (1-based)',
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


def check_covers(path: str, src: Any, box: Box, owner: str = 'the sample') -> None:
    """The one overlap rule of a ground read: the file's extent must contain ``box`` within a
    thousandth of its pixel (float rounding of the boxes); no read is padded with zeros."""
    left, bottom, right, top = src.bounds
    t = src.transform
    tol_x, tol_y = abs(t.a) * 1e-3, abs(t.e) * 1e-3
    if (
        box[0] < left - tol_x
        or box[2] > right + tol_x
        or box[1] < bottom - tol_y
        or box[3] > top + tol_y
    ):
        whose = owner if owner.endswith("'s") else f"{owner}'s"
        extent = tuple(round(v, 3) for v in src.bounds)
        raise GeoSampleError(
            f'{path}: extent {extent} does not cover the requested ground box '
            f'{tuple(round(v, 3) for v in box)}: {osp.basename(path)} covers ground '
            f'({crs_name(src.crs)}) that does not contain {whose} box; the extents of the '
            f'inputs do not overlap as expected',
            path,
        )
