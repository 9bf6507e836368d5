"""Inference over scenes of any size (docs/interfaces.md, Large scenes): what the model expects
(``spec``), the opened scene and its tiles (``inputs``), model adapters (``adapters``), the
sinks, the products (the blended class map: ``accumulator``, ``writer``; detections:
``box_sink``; polygons and embeddings: ``polygon_sink``, ``embedding_sink``, ``vector_writer``)
and the one loop (``runner``).
Names are imported on first use (``mmskysense.lazy``): the torch-free parts (spec, contract,
inputs, the accumulator and writer, the loop, the ONNX Runtime adapter) run without torch.
"""

from mmskysense.lazy import lazy_exports

_EXPORTS = {
    'BlendAccumulator': '.accumulator',
    'CarryStore': '.accumulator',
    'blend_window': '.accumulator',
    'BackboneAdapter': '.adapters',
    'ClassifierAdapter': '.adapters',
    'DetectorAdapter': '.adapters',
    'MultiLabelMapSink': '.multilabel_sink',
    'MultiModalAdapter': '.adapters',
    'SegmentorAdapter': '.adapters',
    'TensorFunctionAdapter': '.adapters',
    'build_adapter': '.adapters',
    'is_multi_label': '.adapters',
    'segmentor_predict_fn': '.adapters',
    'BoxSink': '.box_sink',
    'SceneDetections': '.box_sink',
    'write_detections_geojson': '.box_sink',
    'EmbeddingResult': '.embedding_sink',
    'EmbeddingSink': '.embedding_sink',
    'embed_scene': '.embedding_sink',
    'grid_cell_transform': '.embedding_sink',
    'Frame': '.inputs',
    'SceneInputs': '.inputs',
    'TileBatch': '.inputs',
    'ScaleWarning': '.inputs',
    'check_value_scale': '.inputs',
    'parse_band_presets': '.inputs',
    'parse_input_args': '.inputs',
    'split_input_arg': '.inputs',
    'PolygonResult': '.polygon_sink',
    'PolygonSink': '.polygon_sink',
    'polygonize_class_map': '.polygon_sink',
    'SceneResult': '.runner',
    'TileSink': '.runner',
    'TileStats': '.runner',
    'run_tiles': '.runner',
    'segment_geotiff': '.runner',
    'segment_scene': '.runner',
    'POLICIES': '.spec',
    'TASKS': '.spec',
    'ModalityInput': '.spec',
    'SceneSpec': '.spec',
    'classes_of': '.spec',
    'is_change_detector': '.spec',
    'scene_spec': '.spec',
    'scene_spec_from_config': '.spec',
    'task_of': '.spec',
    'trained_on_bgr': '.spec',
    'VectorWriter': '.vector_writer',
    'vector_driver': '.vector_writer',
    'DEFAULT_NODATA': '.writer',
    'ClassMapWriter': '.writer',
    'InputContract': '.contract',
    'contract_from_config': '.contract',
    'contract_from_dict': '.contract',
    'contract_to_dict': '.contract',
    'OnnxRuntimeAdapter': '.onnx_adapter',
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
