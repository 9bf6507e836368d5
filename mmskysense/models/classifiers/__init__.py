"""Classifiers of the downstream tasks (temporal wrapper of mmpretrain's ImageClassifier)."""

from .temporal_classifier import TemporalImageClassifier

__all__ = ['TemporalImageClassifier']
