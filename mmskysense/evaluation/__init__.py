"""Evaluation that the libraries lack: weighted k-NN of frozen features."""

from .knn import weighted_knn_predict

__all__ = ['weighted_knn_predict']
