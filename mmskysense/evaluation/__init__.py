"""Evaluation that the libraries lack: weighted k-NN of frozen features, change-detection
metrics."""

from .knn import weighted_knn_predict
from .metrics import *  # noqa: F401,F403

__all__ = ['weighted_knn_predict']
