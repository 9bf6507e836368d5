"""Sinkhorn-Knopp equipartition, shared by GCPL's prototype assignment and MGCL's object grouping.

The SkySense papers (V2 section 3.2, which defers to SkySense V1 for GCPL and MGCL) assign
features to prototypes with the Sinkhorn-Knopp algorithm: the soft assignment matrix is the
entropic optimal transport plan between tokens (uniform mass) and prototypes (uniform mass), so
that no prototype collapses onto all tokens.
"""

import torch
from mmengine import dist
from torch import Tensor


def _all_reduce_sum(x: Tensor, distributed: bool) -> Tensor:
    # Sums over data-parallel ranks so every rank computes the same plan (a no-op on one rank).
    if distributed and dist.get_world_size() > 1:
        dist.all_reduce(x, op='sum')
    return x


@torch.no_grad()
def sinkhorn_knopp(
    scores: Tensor,
    epsilon: float = 0.05,
    num_iters: int = 3,
    row_mask: Tensor | None = None,
    groups: Tensor | None = None,
    num_groups: int | None = None,
    distributed: bool = True,
) -> Tensor:
    """Soft equipartitioned assignment of rows (tokens) to columns (prototypes).

    Args:
        scores: ``N x P`` similarities (cosine, in [-1, 1]) of N tokens to P prototypes.
        epsilon: entropic regularisation; smaller is sharper.
        num_iters: alternating normalisation steps.
        row_mask: ``N`` bool, False rows take no mass and come back as zeros.
        groups: ``N`` long; when given, the column constraint holds within each group separately
            (GCPL: each geographic region has its own prototypes; MGCL objects: each image).
        num_groups: number of groups (required with ``groups``).
        distributed: sum the marginals over data-parallel ranks, so the plan is the one of the
            global batch. Every rank must call this with the same ``num_groups`` (and the same
            meaning of each group id).

    Returns:
        ``N x P`` assignment; each valid row sums to 1.
    """
    if scores.dim() != 2:
        raise ValueError(f'sinkhorn_knopp: `scores` must be N x P, got shape {tuple(scores.shape)}')
    n, p = scores.shape
    scores = scores.float()
    if row_mask is None:
        row_mask = torch.ones(n, dtype=torch.bool, device=scores.device)
    if groups is None:
        groups = torch.zeros(n, dtype=torch.long, device=scores.device)
        num_groups = 1
    elif num_groups is None:
        raise ValueError('sinkhorn_knopp: `num_groups` is required with `groups`')
    maskf = row_mask.float().unsqueeze(1)
    # Subtract one constant per group from its logits before exp, for range: the group's
    # largest valid logit over the global batch (every rank: the marginals are summed over
    # them, so they must share it). A factor common to a group's rows is undone by its first
    # column normalisation, so the plan is the textbook one after any number of iterations, and
    # a group's plan depends on its own scores only. A per-row maximum is not undone: it
    # rescales the rows before the column sums are taken, which changes the plan at a finite
    # number of iterations (by several per cent at the configured 3).
    logits = scores / epsilon
    row_top = logits.masked_fill(~row_mask.unsqueeze(1), float('-inf')).amax(1)
    top = torch.full((num_groups,), float('-inf'), device=logits.device)
    top = top.scatter_reduce(0, groups, row_top, reduce='amax')
    if distributed and dist.get_world_size() > 1:
        dist.all_reduce(top, op='max')
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))  # a group without rows
    q = torch.exp(logits - top[groups].unsqueeze(1)) * maskf
    for _ in range(num_iters):
        # columns: each prototype of a group gets 1/P of the group's mass
        col = torch.zeros(num_groups, p, device=q.device, dtype=q.dtype)
        col.index_add_(0, groups, q)
        col = _all_reduce_sum(col, distributed)
        q = q / col[groups].clamp_min(1e-12) / p
        # rows: each valid token carries unit mass
        q = q / q.sum(dim=1, keepdim=True).clamp_min(1e-12)
        q = q * maskf
    return q
