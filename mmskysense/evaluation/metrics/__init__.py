"""Metrics the OpenMMLab libraries lack: changed-class scores and DynamicEarthNet's SCS."""

from .change_metric import ChangeDetectionMetric, changed_class_scores
from .semantic_change_metric import SCSMetric, cube_and_month

__all__ = ['ChangeDetectionMetric', 'changed_class_scores', 'SCSMetric', 'cube_and_month']
