# GeoTIFF sample index, rasterio readers, the pretraining dataset and the synthetic generator.
from ..raster import GeoSampleError, RasterHandleCache, crs_to_wkt
from .dataset import GeoMultiModalDataset
from .index import (
    build_geo_index,
    build_sample_entry,
    load_geo_index,
    parse_sample_entry,
    present_modalities,
)
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
    'crs_to_wkt',
    'lonlat_to_region_id',
    'ModalityScaling',
    'build_scaling',
    'generate_geo_dataset',
]
