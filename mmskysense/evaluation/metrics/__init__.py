"""Metrics the libraries lack, registered in mmskysense.registry.METRICS."""
from .classwise_map import ClasswiseDOTAMetric, ClasswiseVOCMetric

__all__ = ['ClasswiseVOCMetric', 'ClasswiseDOTAMetric']
