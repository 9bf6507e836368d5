"""Whole small files (downstream datasets) as ``H x W x C``, their shape and ground bounds."""

from collections.abc import Sequence

import numpy as np

from .checks import check_bands
from .errors import GeoSampleError
from .nodata import fill_invalid
from .open import _reason, open_raster
from .window import _resampling, _validity, mask_kinds


def read_raster(
    path: str,
    bands: Sequence[int] | None = None,
    out_shape: tuple[int, int] | None = None,
    resampling: str = 'bilinear',
    expected_count: int | None = None,
) -> np.ndarray:
    """Read ``bands`` (1-based, in the given order; all when None) of ``path`` as ``H x W x C``,
    the file's values as they are (nodata included: readers of images and labels use
    ``read_raster_valid``, the one nodata rule).

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
    return _read_whole(path, bands, out_shape, resampling, expected_count, False)[0]


def read_raster_valid(
    path: str,
    bands: Sequence[int] | None = None,
    out_shape: tuple[int, int] | None = None,
    resampling: str = 'bilinear',
    expected_count: int | None = None,
    fill: float | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``read_raster`` with the one nodata rule: ``(H x W x C values, H x W valid)``, valid
    where every band read holds data (not its nodata value, not masked, finite); the values
    are ``fill`` elsewhere (None: left as read). A resampled pixel is valid where the file's
    pixel under its centre holds data (every band) and GDAL's resampling, which keeps nodata
    out of its kernels, gave it a value."""
    return _read_whole(path, bands, out_shape, resampling, expected_count, True, fill)


def _read_whole(
    path: str,
    bands: Sequence[int] | None,
    out_shape: tuple[int, int] | None,
    resampling: str,
    expected_count: int | None,
    with_valid: bool,
    fill: float | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    from rasterio.errors import RasterioError

    with open_raster(path, expected='a raster image') as src:
        if expected_count is not None and src.count != expected_count:
            raise ValueError(f'{path} has {src.count} bands, expected {expected_count}')
        indexes = list(bands) if bands is not None else list(range(1, src.count + 1))
        check_bands(path, src.count, indexes)
        kwargs, shape = {}, None
        if out_shape is not None and tuple(out_shape) != (src.height, src.width):
            shape = (int(out_shape[0]), int(out_shape[1]))
            kwargs = dict(out_shape=(len(indexes), *shape), resampling=_resampling(resampling))
        try:
            data = src.read(indexes, **kwargs)
            valid = None
            if with_valid:
                kinds = mask_kinds(src)
                valid = _validity(src, data, indexes, None, kinds, 'all', shape)
                if shape is not None:
                    valid &= _centre_valid(src, indexes, kinds, shape)
        except RasterioError as err:
            raise GeoSampleError(
                f'{path}: read failed (corrupt or truncated file?): {_reason(err)}', path
            ) from err
    if valid is not None and fill is not None:
        fill_invalid(data, valid, fill, axis=0)
    return np.ascontiguousarray(data.transpose(1, 2, 0)), valid


def label_valid(
    path: str, band: int = 1, out_shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One band of class indices of a label raster (nearest resampling to ``out_shape``) and
    where it holds data (its own nodata value or mask): ``(H x W labels, H x W bool)``."""
    seg, valid = read_raster_valid(
        path, [band], out_shape=out_shape, resampling='nearest', fill=None
    )
    if not np.issubdtype(seg.dtype, np.integer):
        raise GeoSampleError(
            f'{path}: holds {seg.dtype} values, expected integer class indices', path
        )
    return seg[..., 0], valid


def _centre_valid(src, indexes: list[int], kinds: Sequence[str], shape: tuple[int, int]):
    """A resampled pixel holds data only where the file's pixel under its centre does: GDAL
    keeps nodata out of a kernel but fills the rim of a nodata block from its neighbours."""
    from rasterio.enums import Resampling

    valid = np.ones(shape, dtype=bool)
    for band in indexes:
        if kinds[band - 1] != 'all_valid':
            mask = src.read_masks(band, out_shape=shape, resampling=Resampling.nearest)
            valid &= mask > 0
    return valid


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
