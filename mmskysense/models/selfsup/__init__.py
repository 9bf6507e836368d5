from .dino_head import DINOHead
from .geo_correspondence import token_correspondence
from .multimodal_temporal_fusion import MultiModalTemporalFusion, day_of_year_encoding
from .query_aggregation import QueryAggregation
from .skysense_v2 import SkySenseV2

__all__ = [
    'DINOHead',
    'MultiModalTemporalFusion',
    'QueryAggregation',
    'SkySenseV2',
    'day_of_year_encoding',
    'token_correspondence',
]
