"""Metrics the OpenMMLab libraries lack: changed-class scores, DynamicEarthNet's SCS, and the
detection mAP with per-class APs."""

from .change_metric import ChangeDetectionMetric, changed_class_scores
from .classwise_map import ClasswiseDOTAMetric, ClasswiseVOCMetric
from .semantic_change_metric import SCSMetric, cube_and_month

__all__ = [
    'ChangeDetectionMetric',
    'changed_class_scores',
    'SCSMetric',
    'cube_and_month',
    'ClasswiseVOCMetric',
    'ClasswiseDOTAMetric',
]
