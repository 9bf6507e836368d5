"""Entry points of inference (docs/interfaces.md, Large scenes): build a model, and run it over
a scene of any size. Each scene entry point takes ``(model, inputs, output, classes, *,
options)``. The parts (tiler, scene inputs, adapters, sinks, the loop) are imported from
``mmskysense.apis.scene`` and ``mmskysense.datasets.tiling``. Names are imported on first use
(``mmskysense.lazy``): the scene engine's torch-free parts run exported models without torch."""

from mmskysense.lazy import lazy_exports

_EXPORTS = {
    'init_model': '.model_loading',
    'segment_geotiff': '.scene.runner',
    'detect_geotiff': '.scene_detection',
    'change_map_geotiff': '.change_map',
}
__all__ = ['init_model', 'segment_geotiff', 'detect_geotiff', 'change_map_geotiff']
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
