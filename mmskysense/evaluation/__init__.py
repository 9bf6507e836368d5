"""Evaluation that the libraries lack: weighted k-NN of frozen features on generated scenes."""

from .knn import extract_features, knn_scene_accuracy, load_scenes, weighted_knn_predict

__all__ = ['extract_features', 'knn_scene_accuracy', 'load_scenes', 'weighted_knn_predict']
