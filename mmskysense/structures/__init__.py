# The data structures shared by the data pipeline, the data preprocessor and the models.
# Imported on first use (mmskysense.lazy): modalities, dates and boxes are needed without torch.
from mmskysense.lazy import lazy_exports

_EXPORTS = {
    'as_date': '.dates',
    'date_code': '.dates',
    'box_corners': '.boxes',
    'box_extents': '.boxes',
    'box_overlaps': '.boxes',
    'overlap_groups': '.boxes',
    'rbox_corners': '.boxes',
    'shift_boxes': '.boxes',
    'truncated_by_window': '.boxes',
    'GROUPS': '.pretrain_batch',
    'PIXEL_FIELDS': '.pretrain_batch',
    'PretrainSample': '.pretrain_batch',
    'map_view_pixels': '.pretrain_batch',
    'PretrainBatch': '.pretrain_batch',
    'ViewGroup': '.pretrain_batch',
    'EncodedViews': '.pretrain_batch',
    'apply_geo_ops': '.view_geometry',
    'geo_ops_to_points': '.view_geometry',
    'points_to_crop': '.view_geometry',
    'ground_to_view_pixels': '.view_geometry',
    'view_pixels_to_ground': '.view_geometry',
    'token_correspondence': '.view_geometry',
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
