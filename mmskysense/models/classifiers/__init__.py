"""Classifiers of the downstream tasks (temporal wrapper of mmpretrain's ImageClassifier)."""

from .multimodal_classifier import MultiModalImageClassifier
from .temporal_classifier import TemporalImageClassifier

__all__ = ['TemporalImageClassifier', 'MultiModalImageClassifier']
