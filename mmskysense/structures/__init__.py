# The data structures shared by the data pipeline, the data preprocessor and the models.
from .boxes import (
    box_corners,
    box_extents,
    box_overlaps,
    overlap_groups,
    rbox_corners,
    shift_boxes,
    truncated_by_window,
)
from .dates import as_date, date_code
from .pretrain_batch import (
    GROUPS,
    PIXEL_FIELDS,
    EncodedViews,
    PretrainBatch,
    PretrainSample,
    ViewGroup,
    map_view_pixels,
)
from .view_geometry import (
    apply_geo_ops,
    geo_ops_to_points,
    ground_to_view_pixels,
    points_to_crop,
    token_correspondence,
    view_pixels_to_ground,
)

__all__ = [
    'as_date',
    'date_code',
    'box_corners',
    'box_extents',
    'box_overlaps',
    'overlap_groups',
    'rbox_corners',
    'shift_boxes',
    'truncated_by_window',
    'GROUPS',
    'PIXEL_FIELDS',
    'PretrainSample',
    'map_view_pixels',
    'PretrainBatch',
    'ViewGroup',
    'EncodedViews',
    'apply_geo_ops',
    'geo_ops_to_points',
    'points_to_crop',
    'ground_to_view_pixels',
    'view_pixels_to_ground',
    'token_correspondence',
]
