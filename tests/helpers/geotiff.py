"""Writing the small GeoTIFFs the tests read: one writer, with the profile the tests vary, and
its variant that copies an existing file's profile."""

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

#: the tests' default grid: UTM 33N, north-west corner, 1 m pixels
CRS = 'EPSG:32633'
ORIGIN = (500000.0, 4100000.0)


def write_geotiff(
    path: str | Path,
    data: np.ndarray,
    res: float = 1.0,
    origin: tuple[float, float] = ORIGIN,
    crs: Any = CRS,
    transform=None,
    nodata: float | None = None,
    block: int | None = None,
    tags: dict | None = None,
    pieces: Iterable[tuple[Window, np.ndarray]] | None = None,
    **profile,
) -> str:
    """Write ``data`` (``C x H x W``) as a GeoTIFF; returns the path.

    The grid is ``transform``, else square ``res`` pixels from ``origin`` (north-west corner);
    ``crs`` (a string or a rasterio CRS) ``None`` writes a raster without CRS nor transform.
    ``block`` tiles the file in blocks of that side; ``profile`` adds or overrides GDAL creation
    options (``compress``, ...). With ``pieces``, only those ``(window, C x h x w array)`` are
    written (a sparse file with ``sparse_ok=True``): ``data`` then gives the shape and dtype
    alone, e.g. ``np.broadcast_to(np.uint8(0), (3, H, W))`` without allocating it.
    """
    if data.ndim != 3:
        raise ValueError(f'write_geotiff({path}): data must be C x H x W, got {data.shape}')
    count, h, w = data.shape
    fields = dict(driver='GTiff', height=h, width=w, count=count, dtype=data.dtype, nodata=nodata)
    if crs is not None:
        fields.update(crs=crs, transform=transform or from_origin(*origin, res, res))
    if block:
        fields.update(tiled=True, blockxsize=block, blockysize=block)
    fields.update(profile)
    with rasterio.open(path, 'w', **fields) as dst:
        if pieces is None:
            dst.write(data)
        else:
            for window, piece in pieces:
                dst.write(piece, window=window)
        if tags:
            dst.update_tags(**tags)
    return str(path)


def write_geotiff_like(
    path: str | Path,
    like: str | Path,
    data: np.ndarray | None = None,
    tags: bool = True,
    **changes,
) -> str:
    """Write ``data`` (default: ``like``'s pixels) to ``path`` with the profile of the GeoTIFF
    ``like`` and, with ``tags``, its tags, changed by ``changes`` (``crs``, ``transform``, ...);
    the band count and size follow ``data``. ``path`` may be ``like`` (rewritten in place).
    Returns the path."""
    with rasterio.open(like) as src:
        profile, old_tags = dict(src.profile), src.tags()
        if data is None:
            data = src.read()
    if data.ndim != 3:
        raise ValueError(f'write_geotiff_like({path}): data must be C x H x W, got {data.shape}')
    profile.update(changes)
    profile.update(count=data.shape[0], height=data.shape[1], width=data.shape[2])
    if os.path.exists(path):  # replaced, not updated in place by GDAL
        os.remove(path)
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(data)
        if tags:
            dst.update_tags(**old_tags)
    return str(path)
