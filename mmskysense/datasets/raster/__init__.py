"""The raster package: every raster read of training, tools and scene inference goes through it.

One job per module (docs/interfaces.md, The raster package):

* ``errors``: the one error family, ``GeoSampleError`` (``RasterError`` is the same class);
* ``remote``: URLs and ``/vsi`` paths (``gdal_path``, the one place a path is normalised for
  GDAL; ``raster_exists``, ``join_path``) and GDAL's network settings (``RemoteOptions``);
* ``open``: ``open_raster`` (missing, empty, not a raster, truncated: refused naming the file);
* ``checks``: ``check_bands`` (the one band check), ``check_north_up``, ``check_raster``, and
  the one overlap rule (``box_overlap``, ``overlap_window``, ``check_covers``);
* ``crs``: CRS strings and names;
* ``window``: ``read_window`` / ``read_decimated`` of an open raster, with the validity mask;
* ``cache``: ``RasterHandleCache`` (fork-safe handles), ``gdal_cache``;
* ``ground``: ``GroundWindowReader``, the one ground-box reader;
* ``whole``: ``read_raster`` / ``raster_shape`` / ``raster_bounds`` for whole small files.
"""

from .cache import RasterHandleCache, default_handle_cache, gdal_cache
from .checks import (
    Box,
    box_overlap,
    check_bands,
    check_covers,
    check_north_up,
    check_raster,
    grid_box,
    overlap_window,
    pixel_span,
)
from .crs import crs_name, crs_to_wkt
from .errors import GeoSampleError, MissingRasterError, RasterError
from .ground import LABEL_IGNORE, GroundWindowReader
from .open import check_complete_tiff, open_raster
from .remote import (
    RemoteOptions,
    gdal_path,
    is_remote,
    is_url,
    is_virtual,
    join_path,
    raster_exists,
)
from .whole import raster_bounds, raster_shape, read_raster
from .window import Span, mask_kinds, read_decimated, read_window

__all__ = [
    'Box',
    'GeoSampleError',
    'GroundWindowReader',
    'LABEL_IGNORE',
    'MissingRasterError',
    'RasterError',
    'RasterHandleCache',
    'RemoteOptions',
    'Span',
    'box_overlap',
    'check_bands',
    'check_complete_tiff',
    'check_covers',
    'check_north_up',
    'check_raster',
    'crs_name',
    'crs_to_wkt',
    'default_handle_cache',
    'gdal_cache',
    'gdal_path',
    'grid_box',
    'is_remote',
    'is_url',
    'is_virtual',
    'join_path',
    'mask_kinds',
    'open_raster',
    'overlap_window',
    'pixel_span',
    'raster_bounds',
    'raster_exists',
    'raster_shape',
    'read_decimated',
    'read_raster',
    'read_window',
]
