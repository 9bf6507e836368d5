# The data elements shared by the data pipeline, the data preprocessor and the models.
from .data_sample import SkySenseDataSample
from .view_geometry import (
    apply_geo_ops_to_points,
    ground_to_view_pixels,
    view_correspondence_grid,
    view_pixels_to_ground,
)

__all__ = [
    'SkySenseDataSample',
    'ground_to_view_pixels',
    'view_pixels_to_ground',
    'apply_geo_ops_to_points',
    'view_correspondence_grid',
]
