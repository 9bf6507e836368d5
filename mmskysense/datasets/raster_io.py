"""Reading GeoTIFF bands with rasterio into ``H x W x C`` arrays, with errors that name the file.

Multispectral downstream data comes as one multi-band file per image (fMoW-Sentinel, Planet,
DynamicEarthNet Sentinel-2) or as one file per band at several resolutions (BigEarthNet-S2); both
end up as a channels-last array so that the usual OpenMMLab geometric transforms apply.
"""

import os.path as osp
from collections.abc import Sequence

import numpy as np

_RESAMPLING = ('nearest', 'bilinear', 'cubic', 'average')


def _resampling(name: str):
    from rasterio.enums import Resampling

    if name not in _RESAMPLING:
        raise ValueError(f'resampling must be one of {_RESAMPLING}, got {name!r}')
    return getattr(Resampling, name)


def read_raster(
    path: str,
    bands: Sequence[int] | None = None,
    out_shape: tuple[int, int] | None = None,
    resampling: str = 'bilinear',
    expected_count: int | None = None,
) -> np.ndarray:
    """Read ``bands`` (1-based, in the given order; all when None) of ``path`` as ``H x W x C``.

    Args:
        path: a raster file rasterio can open.
        bands: 1-based band indices to read, in the order wanted in the output.
        out_shape: ``(h, w)`` to resample to on read (rasterio's decimated/upsampled read),
            None for the file's own grid.
        resampling: rasterio resampling used when ``out_shape`` differs from the file's grid.
        expected_count: when given, the file must have exactly this many bands.
    """
    import rasterio

    if not osp.isfile(path):
        raise FileNotFoundError(f'raster file not found: {path}')
    with rasterio.open(path) as src:
        if expected_count is not None and src.count != expected_count:
            raise ValueError(f'{path} has {src.count} bands, expected {expected_count}')
        indexes = list(bands) if bands is not None else list(range(1, src.count + 1))
        bad = [b for b in indexes if not 1 <= b <= src.count]
        if bad:
            raise ValueError(f'{path} has {src.count} bands; cannot read bands {bad} (1-based)')
        kwargs = {}
        if out_shape is not None and tuple(out_shape) != (src.height, src.width):
            kwargs = dict(
                out_shape=(len(indexes), int(out_shape[0]), int(out_shape[1])),
                resampling=_resampling(resampling),
            )
        data = src.read(indexes, **kwargs)
    return np.ascontiguousarray(data.transpose(1, 2, 0))


def raster_shape(path: str) -> tuple[int, int, int]:
    """``(height, width, band count)`` of a raster file."""
    import rasterio

    if not osp.isfile(path):
        raise FileNotFoundError(f'raster file not found: {path}')
    with rasterio.open(path) as src:
        return src.height, src.width, src.count


def raster_bounds(path: str) -> tuple[str, tuple[float, float, float, float], float] | None:
    """``(crs, (minx, miny, maxx, maxy), pixel size)`` of a georeferenced raster, None when the
    file has no CRS (then its ground extent is unknown)."""
    import rasterio

    if not osp.isfile(path):
        raise FileNotFoundError(f'raster file not found: {path}')
    with rasterio.open(path) as src:
        if src.crs is None:
            return None
        b = src.bounds
        return src.crs.to_string(), (b.left, b.bottom, b.right, b.top), max(src.res)


def read_raster_window(
    path: str,
    bounds: Sequence[float],
    bounds_crs: str | None = None,
    bands: Sequence[int] | None = None,
    out_shape: tuple[int, int] | None = None,
    resampling: str = 'bilinear',
    tolerance: float = 1.0,
) -> np.ndarray:
    """Read ``bands`` of ``path`` over the ground box ``bounds`` (minx, miny, maxx, maxy, in
    ``bounds_crs`` or the raster's CRS) as ``H x W x C``.

    The box must lie inside the raster (within ``tolerance`` of its pixels): a raster that does
    not cover it is an error naming the file, not a read padded with zeros.
    """
    import rasterio
    from rasterio.warp import transform_bounds
    from rasterio.windows import from_bounds

    if not osp.isfile(path):
        raise FileNotFoundError(f'raster file not found: {path}')
    with rasterio.open(path) as src:
        if src.crs is None:
            raise ValueError(f'{path} has no CRS: cannot find the ground box {tuple(bounds)}')
        box = tuple(bounds)
        if bounds_crs is not None and rasterio.crs.CRS.from_user_input(bounds_crs) != src.crs:
            box = transform_bounds(bounds_crs, src.crs, *box)
        tol = tolerance * max(src.res)
        b = src.bounds
        if (
            box[0] < b.left - tol
            or box[1] < b.bottom - tol
            or box[2] > b.right + tol
            or box[3] > b.top + tol
        ):
            raise ValueError(
                f'{path} covers {(b.left, b.bottom, b.right, b.top)} ({src.crs}), which does not '
                f"contain the sample's ground box {tuple(round(v, 2) for v in box)}"
            )
        window = from_bounds(*box, transform=src.transform)
        indexes = list(bands) if bands is not None else list(range(1, src.count + 1))
        bad = [i for i in indexes if not 1 <= i <= src.count]
        if bad:
            raise ValueError(f'{path} has {src.count} bands; cannot read bands {bad} (1-based)')
        h = int(round(window.height)) if out_shape is None else int(out_shape[0])
        w = int(round(window.width)) if out_shape is None else int(out_shape[1])
        data = src.read(
            indexes,
            window=window,
            out_shape=(len(indexes), h, w),
            resampling=_resampling(resampling),
            boundless=True,
            fill_value=0,
        )
    return np.ascontiguousarray(data.transpose(1, 2, 0))
