"""Inference over scenes of any size (docs/interfaces.md, Large scenes): what the model expects
(``spec``), the opened scene and its tiles (``inputs``), model adapters (``adapters``), the
sinks, the products (the blended class map: ``accumulator``, ``writer``; detections:
``box_sink``; polygons and embeddings: ``polygon_sink``, ``embedding_sink``, ``vector_writer``)
and the one loop (``runner``)."""

from .accumulator import BlendAccumulator, CarryStore, blend_window
from .adapters import (
    BackboneAdapter,
    ClassifierAdapter,
    DetectorAdapter,
    MultiModalAdapter,
    SegmentorAdapter,
    TensorFunctionAdapter,
    build_adapter,
    is_multi_label,
    segmentor_predict_fn,
)
from .box_sink import BoxSink, SceneDetections, write_detections_geojson
from .embedding_sink import EmbeddingResult, EmbeddingSink, embed_scene, grid_cell_transform
from .inputs import (
    Frame,
    ScaleWarning,
    SceneInputs,
    TileBatch,
    check_value_scale,
    parse_band_presets,
    parse_input_args,
    split_input_arg,
)
from .multilabel_sink import MultiLabelMapSink
from .polygon_sink import PolygonResult, PolygonSink, polygonize_class_map
from .runner import SceneResult, TileSink, TileStats, run_tiles, segment_geotiff, segment_scene
from .spec import (
    POLICIES,
    TASKS,
    ModalityInput,
    SceneSpec,
    classes_of,
    is_change_detector,
    scene_spec,
    scene_spec_from_config,
    task_of,
    trained_on_bgr,
)
from .vector_writer import VectorWriter, vector_driver
from .writer import DEFAULT_NODATA, ClassMapWriter

__all__ = [
    'BlendAccumulator',
    'CarryStore',
    'blend_window',
    'BackboneAdapter',
    'ClassifierAdapter',
    'DetectorAdapter',
    'MultiLabelMapSink',
    'MultiModalAdapter',
    'SegmentorAdapter',
    'TensorFunctionAdapter',
    'build_adapter',
    'is_multi_label',
    'segmentor_predict_fn',
    'BoxSink',
    'SceneDetections',
    'write_detections_geojson',
    'EmbeddingResult',
    'EmbeddingSink',
    'embed_scene',
    'grid_cell_transform',
    'Frame',
    'SceneInputs',
    'TileBatch',
    'ScaleWarning',
    'check_value_scale',
    'parse_band_presets',
    'parse_input_args',
    'split_input_arg',
    'PolygonResult',
    'PolygonSink',
    'polygonize_class_map',
    'SceneResult',
    'TileSink',
    'TileStats',
    'run_tiles',
    'segment_geotiff',
    'segment_scene',
    'POLICIES',
    'TASKS',
    'ModalityInput',
    'SceneSpec',
    'classes_of',
    'is_change_detector',
    'scene_spec',
    'scene_spec_from_config',
    'task_of',
    'trained_on_bgr',
    'VectorWriter',
    'vector_driver',
    'DEFAULT_NODATA',
    'ClassMapWriter',
]
