"""Necks: multi-modal temporal fusion (F_fus), QSACL's query aggregation, the MS pyramid and
masked temporal pooling of the downstream models."""

from .ms_pyramid import MSFeaturePyramid
from .multimodal_temporal_fusion import MultiModalTemporalFusion, day_of_year_encoding
from .query_aggregation import QueryAggregation
from .temporal_pooling import TemporalPooling

__all__ = [
    'MSFeaturePyramid',
    'MultiModalTemporalFusion',
    'QueryAggregation',
    'TemporalPooling',
    'day_of_year_encoding',
]
