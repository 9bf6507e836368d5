"""Opening a raster: a file that is missing, empty, a folder, not a raster or truncated is
refused with a ``GeoSampleError`` whose message starts with its path. A URL or ``/vsicurl/``
path is opened through ``remote.gdal_path`` (range requests); one that cannot be fetched is
refused naming the URL and the HTTP status GDAL reports."""

import math
import os.path as osp
from typing import Any

from .errors import GeoSampleError, MissingRasterError
from .remote import gdal_path, http_status, is_virtual, remote_failure

_TIFF_MAGIC = (b'II*\x00', b'MM\x00*', b'II+\x00', b'MM\x00+')


def _reason(err: BaseException) -> str:
    """GDAL's own words: rasterio's 'See previous exception' messages keep them in the cause."""
    text = str(err)
    cause = err.__cause__ or err.__context__
    if cause is not None and 'previous exception' in text:
        text = str(cause)
    return text


def open_raster(
    path: str, expected: str = 'a GeoTIFF', check_complete: bool = False, **kwargs: Any
) -> Any:
    """Open ``path`` with rasterio, or raise a ``GeoSampleError`` naming it.

    Args:
        path: the file: a local path, an ``http(s)://`` URL or a GDAL ``/vsi...`` path
            (``/vsicurl/...``); errors name it as given.
        expected: what the file should be, for the messages (e.g. ``'the input scene, a GeoTIFF'``).
        check_complete: also refuse a GeoTIFF whose blocks end beyond the end of the file
            (a truncated download or copy), before any pixel is read. Costs one look-up per block.
            Local files only: GDAL does not report a remote file's size, and a block beyond
            the end of a remote file fails when it is read (``read_window``), naming the URL.
        kwargs: passed to ``rasterio.open`` (``overview_level``, ...).
    """
    import rasterio
    from rasterio.errors import RasterioError

    if is_virtual(path):
        return _open_virtual(path, expected, **kwargs)
    if not osp.exists(path):
        raise MissingRasterError(f'{path}: file does not exist (expected {expected})', path)
    if osp.isdir(path):
        raise GeoSampleError(f'{path}: is a folder, expected {expected}', path)
    size = osp.getsize(path)
    if size == 0:
        raise GeoSampleError(f'{path}: file is empty (0 bytes); expected {expected}', path)
    try:
        src = rasterio.open(path, **kwargs)
    except RasterioError as err:
        with open(path, 'rb') as f:
            is_tiff = f.read(4) in _TIFF_MAGIC
        what = (
            'not a readable TIFF (corrupt or truncated header?)'
            if is_tiff
            else 'not a raster GDAL can read'
        )
        raise GeoSampleError(f'{path}: {what} (expected {expected}): {_reason(err)}', path) from err
    if check_complete:
        try:
            check_complete_tiff(src, path, size, expected)
        except BaseException:
            src.close()
            raise
    return src


def _open_virtual(path: str, expected: str, **kwargs: Any) -> Any:
    """A URL or GDAL virtual path: no ``os.path`` checks; GDAL's error names the cause."""
    import rasterio
    from rasterio.errors import RasterioError

    try:
        return rasterio.open(gdal_path(path), **kwargs)
    except RasterioError as err:
        reason = _reason(err)
        if http_status(reason) == 404:
            raise MissingRasterError(
                f'{path}: does not exist (the server answered HTTP 404; expected {expected})',
                path,
            ) from err
        raise GeoSampleError(
            f'{path}: cannot be opened: {remote_failure(path, reason)} (expected {expected})',
            path,
        ) from err


def check_complete_tiff(src: Any, path: str, size: int | None = None, expected: str = '') -> None:
    """Refuse a (Geo)TIFF whose blocks (strips or tiles) end beyond the end of the file
    (a local file: see ``open_raster``)."""
    if src.driver != 'GTiff' or (size is None and is_virtual(path)):
        return
    size = osp.getsize(path) if size is None else size
    bh, bw = src.block_shapes[0]
    ny, nx = math.ceil(src.height / bh), math.ceil(src.width / bw)
    bands = [1] if src.interleaving is not None and src.interleaving.name == 'pixel' else None
    end = 0
    for band in bands or range(1, src.count + 1):
        for y in range(ny):
            for x in range(nx):
                offset = src.get_tag_item(f'BLOCK_OFFSET_{x}_{y}', 'TIFF', bidx=band)
                if offset:  # sparse blocks have none
                    length = src.get_tag_item(f'BLOCK_SIZE_{x}_{y}', 'TIFF', bidx=band)
                    end = max(end, int(offset) + int(length or 0))
    if end > size:
        suffix = f' (expected {expected})' if expected else ''
        raise GeoSampleError(
            f'{path}: truncated: its TIFF blocks end at byte {end} but the file has {size} '
            f'bytes{suffix}',
            path,
        )
