"""Evaluation that the libraries lack: weighted k-NN of frozen features on generated scenes,
change-detection metrics."""

from .knn import extract_features, knn_scene_accuracy, load_scenes, weighted_knn_predict
from .metrics import *  # noqa: F401,F403

__all__ = ['extract_features', 'knn_scene_accuracy', 'load_scenes', 'weighted_knn_predict']
