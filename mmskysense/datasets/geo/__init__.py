# GeoTIFF sample index, rasterio readers, the pretraining dataset and the synthetic generator.
from .dataset import GeoMultiModalDataset
from .errors import GeoSampleError
from .index import (
    build_geo_index,
    build_sample_entry,
    load_geo_index,
    parse_sample_entry,
    present_modalities,
)
from .raster_reader import RasterHandleCache, WindowReader, crs_to_wkt
from .region import lonlat_to_region_id
from .scaling import ModalityScaling, build_scaling
from .synthetic import generate_geo_dataset

__all__ = [
    'GeoMultiModalDataset',
    'GeoSampleError',
    'build_geo_index',
    'build_sample_entry',
    'load_geo_index',
    'parse_sample_entry',
    'present_modalities',
    'RasterHandleCache',
    'WindowReader',
    'crs_to_wkt',
    'lonlat_to_region_id',
    'ModalityScaling',
    'build_scaling',
    'generate_geo_dataset',
]
