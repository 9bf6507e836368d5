"""Weighted k-NN classification of frozen features (DINO's protocol, the paper's ablation
metric in Figure 7): used by ``tools/analysis_tools/knn_eval.py``."""

import torch


def weighted_knn_predict(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
) -> torch.Tensor:
    """DINO's weighted k-NN on L2-normalised features: class scores are the sums of
    ``exp(cos / T)`` over the k nearest reference features of that class."""
    if train_feats.shape[0] == 0:
        raise ValueError('weighted_knn_predict: the reference set is empty')
    k = min(k, train_feats.shape[0])
    sim = test_feats @ train_feats.T
    top_sim, top_idx = sim.topk(k, dim=1)
    votes = torch.zeros(test_feats.shape[0], num_classes, dtype=sim.dtype)
    votes.scatter_add_(1, train_labels[top_idx], (top_sim / temperature).exp())
    return votes.argmax(1)
