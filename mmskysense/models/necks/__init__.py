"""Necks: multi-modal temporal fusion (F_fus), QSACL's query aggregation, the MS pyramid, masked
temporal pooling, and the fusion of the two dates of a change detector."""

from .ms_pyramid import MSFeaturePyramid
from .multimodal_fusion import MultiModalFusion
from .multimodal_temporal_fusion import MultiModalTemporalFusion, day_of_year_encoding
from .query_aggregation import QueryAggregation
from .siamese_fusion import SiameseFusionNeck
from .temporal_pooling import TemporalPooling

__all__ = [
    'MSFeaturePyramid',
    'MultiModalFusion',
    'MultiModalTemporalFusion',
    'QueryAggregation',
    'SiameseFusionNeck',
    'TemporalPooling',
    'day_of_year_encoding',
]
