"""Entry points of inference (docs/interfaces.md, Large scenes; Models by name): build a model
(from a config, or by name), run it on one image, and run it over a scene of any size. Each
scene entry point takes ``(model, inputs, output, classes, *, options)``. The parts (tiler,
scene inputs, adapters, sinks, the loop) are imported from ``mmskysense.apis.scene`` and
``mmskysense.datasets.tiling``."""

from .change_map import change_map_geotiff
from .model_loading import init_model
from .model_zoo import get_model, inference_model, list_models
from .scene.runner import segment_geotiff
from .scene_detection import detect_geotiff

__all__ = [
    'init_model',
    'list_models',
    'get_model',
    'inference_model',
    'segment_geotiff',
    'detect_geotiff',
    'change_map_geotiff',
]
