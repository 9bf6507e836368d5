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
* ``whole``: ``read_raster`` / ``raster_shape`` / ``raster_bounds`` for whole small files;
* ``bands``: bands by name (``resolve_bands``, ``match_bands``, the ``PRESETS`` of products).
* ``whole``: ``read_raster`` / ``read_raster_valid`` / ``label_valid`` / ``raster_shape`` /
  ``raster_bounds`` for whole small files;
* ``nodata``: the one nodata rule of whole-file reads (``values_valid``, ``fill_invalid``,
  ``combine_valid``, ``ignore_invalid``).
"""

from .bands import PRESETS, Band, match_bands, preset_bands, resolve_bands
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
from .nodata import (
    IGNORE_INDEX,
    combine_valid,
    fill_invalid,
    ignore_invalid,
    values_valid,
)
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
from .whole import label_valid, raster_bounds, raster_shape, read_raster, read_raster_valid
from .window import Span, mask_kinds, read_decimated, read_window

__all__ = [
    'PRESETS',
    'Band',
    'Box',
    'GeoSampleError',
    'GroundWindowReader',
    'IGNORE_INDEX',
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
    'combine_valid',
    'crs_name',
    'crs_to_wkt',
    'default_handle_cache',
    'fill_invalid',
    'gdal_cache',
    'gdal_path',
    'grid_box',
    'ignore_invalid',
    'label_valid',
    'is_remote',
    'is_url',
    'is_virtual',
    'join_path',
    'mask_kinds',
    'match_bands',
    'preset_bands',
    'open_raster',
    'overlap_window',
    'pixel_span',
    'raster_bounds',
    'raster_exists',
    'raster_shape',
    'read_decimated',
    'read_raster',
    'read_raster_valid',
    'read_window',
    'resolve_bands',
    'values_valid',
]
