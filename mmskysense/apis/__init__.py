from .large_scene_inference import TileGrid, blend_window, segment_geotiff, segmentor_predict_fn
from .model_loading import init_model

__all__ = ['init_model', 'TileGrid', 'blend_window', 'segment_geotiff', 'segmentor_predict_fn']
