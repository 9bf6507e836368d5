"""What self-supervised practitioners watch during teacher-student pretraining (DINO [6]).

Collapse shows in the teacher's targets before it shows in any loss: a teacher whose every
output is the same one-hot vector (entropy -> 0, and the entropy of the batch-mean target -> 0
too) or uniform (entropy -> log K, the value of a uniform prediction) gives the student nothing
to learn, while the cross-entropy may still fall. And in the features: pooled features that
point the same way (effective rank -> 1, per-channel spread -> 0).

Every function returns detached scalar tensors keyed for the Runner's log (none of the keys
contains ``loss``, so mmengine never adds them to the objective), computed on this rank's batch
without communication; each costs one host read when the Runner logs it.
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def _entropy(p: Tensor) -> Tensor:
    return -(p * p.clamp_min(1e-12).log()).sum(-1)


def segment_sum(x: Tensor, segments: Tensor | None, num_segments: int) -> Tensor:
    """Sums of the rows of ``x`` (``N x ...``) per segment: ``num_segments x ...``, row ``i``
    in segment ``segments[i]``; ``segments`` None: one segment of every row (``1 x ...``)."""
    if segments is None:
        return x.sum(0, keepdim=True)
    return x.new_zeros((num_segments, *x.shape[1:])).index_add_(0, segments, x)


@torch.no_grad()
def teacher_student_monitors(
    name: str,
    target: Tensor,
    cross_entropy: Tensor,
    weight: Tensor | None = None,
    center: Tensor | None = None,
) -> dict[str, Tensor]:
    """Monitors of one teacher-student term ``CE(target, student)``.

    Args:
        name: the term's log name (e.g. ``mgcl_pixel_hr``); keys are ``<name>/<monitor>``.
        target: ``... x K`` teacher distributions (rows sum to 1, or 0 for dropped rows).
        cross_entropy: the term's value, the weighted mean of ``-sum target log student``.
        weight: ``...`` row weights of the term (0 drops a row); None: all rows count.
        center: the teacher centre used for ``target`` (``1 x K``), if the term has one.

    Returns:
        ``<name>/tgt_entropy``: mean entropy of the target rows divided by log K (0: one-hot,
        1: uniform); ``<name>/tgt_marginal_entropy``: entropy of the mean target over the rows,
        divided by log K (how many outputs the batch uses: near 0 when every row picks the same
        output); ``<name>/kl``: mean KL(target || student) in nats, the part of the
        cross-entropy the student can still remove; ``<name>/center_norm``: the centre's L2
        norm, when ``center`` is given; ``<name>/rows``: the weighted number of target rows.
        A batch that gives the term no row (e.g. views that do not overlap, for MGCL's pixel
        and object terms) has ``rows`` 0, and its entropies and KL are 0 there: that is no data,
        not a one-hot collapse, which ``rows`` tells apart without a host read.
    """
    return teacher_student_monitors_many(
        (name,), target, cross_entropy.reshape(1), weight, None, center
    )


@torch.no_grad()
def teacher_student_monitors_many(
    names: Sequence[str],
    target: Tensor,
    cross_entropy: Tensor,
    weight: Tensor | None = None,
    segments: Tensor | None = None,
    centers: Tensor | None = None,
) -> dict[str, Tensor]:
    """:func:`teacher_student_monitors` of several terms whose target rows are stacked in
    ``target`` (``N x K``), row ``i`` of term ``segments[i]`` (None: one term), with one
    reduction per monitor for all of them: ``cross_entropy`` and ``centers`` (``M x K``) hold
    one value and one centre per term."""
    k = target.shape[-1]
    p = target.detach().float().reshape(-1, k)
    w = (
        torch.ones(p.shape[0], device=p.device)
        if weight is None
        else weight.detach().float().reshape(-1)
    )
    if w.shape[0] != p.shape[0]:
        raise ValueError(
            f'teacher_student_monitors({", ".join(names)}): {w.shape[0]} weights for '
            f'{p.shape[0]} target rows'
        )
    num = len(names)
    rows = segment_sum(w, segments, num)
    total = rows.clamp_min(1e-12)
    entropy = segment_sum(_entropy(p) * w, segments, num) / total
    marginal = segment_sum(p * w[:, None], segments, num) / total[:, None]
    log_k = math.log(k) if k > 1 else 1.0
    monitors = dict(
        tgt_entropy=entropy / log_k,
        tgt_marginal_entropy=_entropy(marginal) / log_k,
        kl=cross_entropy.detach().float() - entropy,
        rows=rows,
    )
    if centers is not None:
        monitors['center_norm'] = centers.detach().float().norm(dim=-1)
    return {f'{n}/{key}': v[i] for i, n in enumerate(names) for key, v in monitors.items()}


@torch.no_grad()
def effective_rank(feats: Tensor) -> Tensor:
    """Effective rank (Roy and Vetterli, 2007) of ``N x C`` features, each L2-normalised first:
    ``exp(entropy of the normalised singular values)``, between 1 (every row points the same
    way) and ``min(N, C)``."""
    x = F.normalize(feats.detach().float(), dim=-1)
    s = torch.linalg.svdvals(x)
    return _entropy(s / s.sum().clamp_min(1e-12)).exp()


@torch.no_grad()
def feature_monitors(name: str, feats: Tensor, weight: Tensor | None = None) -> dict[str, Tensor]:
    """Spread of ``N x C`` pooled features: ``<name>/std``, the per-channel standard deviation
    over the rows of the L2-normalised features, averaged over channels (about 1 / sqrt(C) for
    spread-out features, 0 when they collapse; SimSiam's monitor), and ``<name>/erank``
    (:func:`effective_rank`). ``weight`` (``N``, 0 or 1) leaves rows out without indexing
    (no read of the data back to the host): a zero row changes no singular value."""
    x = F.normalize(feats.detach().float(), dim=-1)
    w = x.new_ones(x.shape[0]) if weight is None else weight.detach().float().reshape(-1)
    n = w.sum()
    mean = (x * w[:, None]).sum(0) / n.clamp_min(1.0)
    var = ((x - mean) ** 2 * w[:, None]).sum(0) / (n - 1).clamp_min(1.0)
    std = torch.where(n > 1, var.sqrt().mean(), x.new_zeros(()))
    return {f'{name}/std': std, f'{name}/erank': effective_rank(x * w[:, None])}


@torch.no_grad()
def mean_pairwise_cosine(feats: Tensor) -> Tensor:
    """Mean cosine similarity of every pair of distinct rows of ``N x C`` features."""
    x = F.normalize(feats.detach().float(), dim=-1)
    n = x.shape[0]
    if n < 2:
        return x.new_zeros(())
    s = x.sum(0)
    return ((s @ s) - n) / (n * (n - 1))


def _pooled(maps: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
    """``B x V x C x h x w`` maps, ``B x V x h x w`` masks -> ``(B V) x C`` masked means and
    ``(B V)`` weights: 0 for views without a valid token."""
    w = masks.flatten(2).to(maps.dtype)  # B x V x L
    pooled = (maps.flatten(3) * w[:, :, None]).sum(-1) / w.sum(-1, keepdim=True).clamp_min(1.0)
    keep = masks.flatten(2).any(-1).reshape(-1)
    return pooled.reshape(-1, maps.shape[2]), keep


@torch.no_grad()
def encoded_views_monitors(prefix: str, encoded: dict) -> dict[str, Tensor]:
    """:func:`feature_monitors` of the pooled features of every view of every group (a dict
    group -> ``EncodedViews``), per modality and for F_fus: ``<prefix>/<modality>/std`` ...,
    ``<prefix>/fused/erank``."""
    groups = list(encoded.values())
    out: dict[str, Tensor] = {}
    for m in groups[0].maps:
        feats, keep = zip(*[_pooled(g.maps[m], g.map_masks[m]) for g in groups])
        out.update(feature_monitors(f'{prefix}/{m}', torch.cat(feats), torch.cat(keep)))
    feats, keep = zip(*[_pooled(g.fused, g.fused_mask) for g in groups])
    out.update(feature_monitors(f'{prefix}/fused', torch.cat(feats), torch.cat(keep)))
    return out
