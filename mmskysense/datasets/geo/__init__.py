"""GeoTIFF sample index, rasterio readers, the pretraining dataset and the synthetic generator.

Names are imported on first use (``mmskysense.lazy``): the scene engine reads file dates through
``index`` without torch; ``mmskysense.datasets.registered`` imports them all (registering the
dataset)."""

from mmskysense.lazy import lazy_exports

_EXPORTS = {
    'GeoMultiModalDataset': '.dataset',
    'GeoSampleError': '..raster',
    'build_geo_index': '.index',
    'build_sample_entry': '.index',
    'load_geo_index': '.index',
    'parse_sample_entry': '.index',
    'present_modalities': '.index',
    'RasterHandleCache': '..raster',
    'crs_to_wkt': '..raster',
    'lonlat_to_region_id': '.region',
    'ModalityScaling': '.scaling',
    'build_scaling': '.scaling',
    'generate_geo_dataset': '.synthetic',
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
