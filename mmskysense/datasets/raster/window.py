"""Windowed and decimated reads of an open raster, with the validity (nodata) mask."""

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import GeoSampleError
from .open import _reason

Span = tuple[int, int]  # [start, stop) of rows or columns
_RESAMPLING = ('nearest', 'bilinear', 'cubic', 'average')


def _resampling(name: str):
    from rasterio.enums import Resampling

    if name not in _RESAMPLING:
        raise ValueError(f'resampling must be one of {_RESAMPLING}, got {name!r}')
    return getattr(Resampling, name)


def mask_kinds(src: Any) -> tuple[str, ...]:
    """Per band: ``'all_valid'``, ``'nodata'`` (a nodata value) or ``'mask'`` (internal or
    sidecar mask, alpha)."""
    from rasterio.enums import MaskFlags

    names = []
    for flags in src.mask_flag_enums:
        if flags == [MaskFlags.all_valid]:
            names.append('all_valid')
        elif flags == [MaskFlags.nodata]:
            names.append('nodata')
        else:
            names.append('mask')
    return tuple(names)


def _validity(
    src: Any,
    data: np.ndarray,
    bands: Sequence[int],
    window: Any,
    kinds: Sequence[str],
    rule: str,
    out_shape: tuple[int, int] | None,
) -> np.ndarray:
    """``h x w``: True where every band (``rule='all'``) or some band (``'any'``) holds data."""
    from rasterio.enums import Resampling

    combine = np.logical_and if rule == 'all' else np.logical_or
    valid = None
    for i, band in enumerate(bands):
        kind = kinds[band - 1]
        if kind == 'nodata':
            # GDAL's nodata mask band would read the pixels a second time: compare here
            nodata = src.nodatavals[band - 1]
            if np.isnan(nodata):
                ok = np.ones(data.shape[-2:], dtype=bool)  # NaN: the finiteness test below
            else:
                ok = data[i] != np.asarray(nodata).astype(data.dtype)
        elif kind == 'mask':
            ok = (
                src.read_masks(
                    band, window=window, out_shape=out_shape, resampling=Resampling.nearest
                )
                > 0
            )
        else:
            ok = np.ones(data.shape[-2:], dtype=bool)
        if np.issubdtype(data.dtype, np.floating):
            ok = ok & np.isfinite(data[i])
        valid = ok if valid is None else combine(valid, ok)
    return valid


def read_window(
    src: Any,
    bands: Sequence[int],
    rows: Span,
    cols: Span,
    path: str | None = None,
    step: int | tuple[int, int] = 1,
    valid: str = 'all',
    kinds: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Values ``C x h x w`` (the file's dtype) and validity ``h x w`` of a window.

    Args:
        src: an open rasterio dataset.
        bands: 1-based bands, in output order.
        rows, cols: ``[start, stop)`` of the window, whole pixels inside the raster.
        path: named in errors (default: the dataset's name).
        step: ``> 1`` reads every ``step``-th pixel (GDAL's nearest-neighbour decimated read:
            the pixel under the centre of each ``step x step`` cell, i.e. offset ``step // 2``);
            the window's sides must be multiples of ``step``; ``(step_y, step_x)`` per axis.
        valid: ``'all'``: a pixel is valid when every band holds data; ``'any'``: some band.
        kinds: ``mask_kinds(src)``, when the caller has it cached.
    """
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    path = path or src.name
    h, w = rows[1] - rows[0], cols[1] - cols[0]
    window = Window(cols[0], rows[0], w, h)
    sy, sx = (step, step) if isinstance(step, int) else step
    out_shape = None
    kwargs = {}
    if sy > 1 or sx > 1:
        if h % sy or w % sx:
            raise ValueError(f'window {h} x {w} is not a whole number of {sy} x {sx} px cells')
        out_shape = (h // sy, w // sx)
        kwargs = dict(out_shape=(len(bands), *out_shape), resampling=Resampling.nearest)
    try:
        data = src.read(list(bands), window=window, **kwargs)
        ok = _validity(src, data, bands, window, kinds or mask_kinds(src), valid, out_shape)
    except RasterioError as err:
        raise GeoSampleError(
            f'{path}: read failed at rows {rows[0]}..{rows[1]}, cols {cols[0]}..{cols[1]} '
            f'(corrupt or truncated file?): {_reason(err)}',
            path,
        ) from err
    return data, ok


def read_decimated(
    src: Any,
    bands: Sequence[int],
    out_shape: tuple[int, int],
    resampling: str = 'average',
    path: str | None = None,
    window: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole raster (or ``window``) resampled by GDAL to ``out_shape``, e.g. for a preview,
    with the dataset mask (``h x w``, True where some band holds data) read the same way."""
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError

    path = path or src.name
    try:
        data = src.read(
            list(bands),
            window=window,
            out_shape=(len(bands), *out_shape),
            resampling=_resampling(resampling),
        )
        mask = src.dataset_mask(window=window, out_shape=out_shape, resampling=Resampling.nearest)
    except RasterioError as err:
        raise GeoSampleError(
            f'{path}: read failed (corrupt or truncated file?): {_reason(err)}', path
        ) from err
    return data, mask > 0
