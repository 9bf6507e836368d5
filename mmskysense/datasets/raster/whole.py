"""Whole small files (downstream datasets) as ``H x W x C``, their shape and ground bounds."""

from collections.abc import Sequence

import numpy as np

from .checks import check_bands
from .errors import GeoSampleError
from .open import _reason, open_raster
from .window import _resampling


def read_raster(
    path: str,
    bands: Sequence[int] | None = None,
    out_shape: tuple[int, int] | None = None,
    resampling: str = 'bilinear',
    expected_count: int | None = None,
) -> np.ndarray:
    """Read ``bands`` (1-based, in the given order; all when None) of ``path`` as ``H x W x C``.

    Multispectral downstream data comes as one multi-band file per image (fMoW-Sentinel, Planet,
    DynamicEarthNet Sentinel-2) or as one file per band at several resolutions (BigEarthNet-S2);
    both end up as a channels-last array so that the usual OpenMMLab geometric transforms apply.

    Args:
        path: a raster file rasterio can open.
        bands: 1-based band indices to read, in the order wanted in the output.
        out_shape: ``(h, w)`` to resample to on read (rasterio's decimated/upsampled read),
            None for the file's own grid.
        resampling: rasterio resampling used when ``out_shape`` differs from the file's grid.
        expected_count: when given, the file must have exactly this many bands.
    """
    from rasterio.errors import RasterioError

    with open_raster(path, expected='a raster image') as src:
        if expected_count is not None and src.count != expected_count:
            raise ValueError(f'{path} has {src.count} bands, expected {expected_count}')
        indexes = list(bands) if bands is not None else list(range(1, src.count + 1))
        check_bands(path, src.count, indexes)
        kwargs = {}
        if out_shape is not None and tuple(out_shape) != (src.height, src.width):
            kwargs = dict(
                out_shape=(len(indexes), int(out_shape[0]), int(out_shape[1])),
                resampling=_resampling(resampling),
            )
        try:
            data = src.read(indexes, **kwargs)
        except RasterioError as err:
            raise GeoSampleError(
                f'{path}: read failed (corrupt or truncated file?): {_reason(err)}', path
            ) from err
    return np.ascontiguousarray(data.transpose(1, 2, 0))


def raster_shape(path: str) -> tuple[int, int, int]:
    """``(height, width, band count)`` of a raster file."""
    with open_raster(path, expected='a raster image') as src:
        return src.height, src.width, src.count


def raster_bounds(path: str) -> tuple[str, tuple[float, float, float, float], float] | None:
    """``(crs, (minx, miny, maxx, maxy), pixel size)`` of a georeferenced raster, None when the
    file has no CRS (then its ground extent is unknown). A missing file raises
    ``MissingRasterError`` (a ``FileNotFoundError``)."""
    with open_raster(path, expected='a raster image') as src:
        if src.crs is None:
            return None
        b = src.bounds
        return src.crs.to_string(), (b.left, b.bottom, b.right, b.top), max(src.res)
