from .change_map import CHANGE_CLASSES, change_map_geotiff, pair_overlap, write_change_preview
from .large_scene_inference import TileGrid, blend_window, segment_geotiff, segmentor_predict_fn
from .model_loading import init_model
from .scene_detection import (
    SceneDetections,
    detect_geotiff,
    detector_predict_fn,
    write_detection_preview,
    write_detections_geojson,
)

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
    'SceneDetections',
    'detect_geotiff',
    'detector_predict_fn',
    'write_detections_geojson',
    'write_detection_preview',
]
