"""Transformer building blocks shared by every block of the backbone: the FFN and stochastic depth.

Not a paper idea of its own; the dense FFN is what the MoE (eq. 2) replaces, and every expert
has its shape (``fc1``: C -> mlp_ratio*C, GELU, ``fc2``: back to C).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .onednn_linear import linear


class FeedForward(nn.Module):
    """Dense two-layer MLP ``fc2(drop(gelu(fc1(x))))``."""

    def __init__(self, embed_dims: int, hidden_dims: int, drop: float = 0.0) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.hidden_dims = hidden_dims
        self.fc1 = nn.Linear(embed_dims, hidden_dims)
        self.fc2 = nn.Linear(hidden_dims, embed_dims)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(F.gelu(linear(x, self.fc1.weight, self.fc1.bias)))
        return self.drop(linear(h, self.fc2.weight, self.fc2.bias))


def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples of a residual branch, rescale the kept ones."""
    if drop_prob == 0.0 or not training:
        return x
    keep = 1.0 - drop_prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    """Module form of :func:`drop_path`."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'
