"""Necks of the downstream models: the MS pyramid and masked temporal pooling."""
from .ms_pyramid import MSFeaturePyramid
from .temporal_pooling import TemporalPooling

__all__ = ['MSFeaturePyramid', 'TemporalPooling']
