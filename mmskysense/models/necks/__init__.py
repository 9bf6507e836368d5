"""Necks of the downstream models: the MS pyramid, masked temporal pooling and the fusion of
the two dates of a change detector."""

from .ms_pyramid import MSFeaturePyramid
from .siamese_fusion import SiameseFusionNeck
from .temporal_pooling import TemporalPooling

__all__ = ['MSFeaturePyramid', 'SiameseFusionNeck', 'TemporalPooling']
