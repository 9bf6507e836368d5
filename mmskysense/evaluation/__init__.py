"""Evaluation that the libraries lack: weighted k-NN of frozen features on generated scenes
and image splits,
change-detection metrics."""

from .knn import (
    extract_features,
    knn_accuracy,
    knn_scene_accuracy,
    load_image_split_sets,
    load_scenes,
    weighted_knn_predict,
)
from .metrics import *  # noqa: F401,F403

__all__ = [
    'extract_features',
    'knn_accuracy',
    'knn_scene_accuracy',
    'load_image_split_sets',
    'load_scenes',
    'weighted_knn_predict',
]
