"""Entry points of inference (docs/interfaces.md, Large scenes; Models by name): build a model
(from a config, or by name), run it on one image, and run it over a scene of any size. Each
scene entry point takes ``(model, inputs, output, classes, *, options)``. The parts (tiler,
scene inputs, adapters, sinks, the loop) are imported from ``mmskysense.apis.scene`` and
``mmskysense.datasets.tiling``. Names are imported on first use (``mmskysense.lazy``): the
scene engine's torch-free parts run exported models without torch."""

from mmskysense.lazy import lazy_exports

_EXPORTS = {
    'init_model': '.model_loading',
    'list_models': '.model_zoo',
    'get_model': '.model_zoo',
    'inference_model': '.model_zoo',
    'segment_geotiff': '.scene.runner',
    'detect_geotiff': '.scene_detection',
    'change_map_geotiff': '.change_map',
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
