from .change_map import CHANGE_CLASSES, change_map_geotiff, pair_overlap, write_change_preview
from .large_scene_inference import TileGrid, blend_window, segment_geotiff, segmentor_predict_fn
from .model_loading import init_model

__all__ = [
    'init_model',
    'TileGrid',
    'blend_window',
    'segment_geotiff',
    'segmentor_predict_fn',
    'change_map_geotiff',
    'pair_overlap',
    'write_change_preview',
    'CHANGE_CLASSES',
]
