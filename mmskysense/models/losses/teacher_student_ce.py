"""The teacher/student cross-entropy of DINO with centering, shared by MGCL and QSACL.

Paper eq. 4: L_CL(x, x') = -H(x) log H'(x'), with H the student head and H' its EMA (teacher)
"as defined in [6]" (DINO). Following DINO, the teacher distribution is the sharpened softmax of
its centred logits and is the target; the student's log-softmax carries the gradient.

Two ways to make the targets (``TeacherCentering(mode=...)``): DINO's running centre (the
paper's, ``'ema'``), or DINOv2's Sinkhorn-Knopp centring (``'sinkhorn_knopp'``), which
equipartitions the batch's targets over the outputs: each output takes an equal share of the
batch, so no output can take the whole batch, whatever the centre has learnt so far. (Neither
mode sharpens rows that are nearly identical: both give them near-uniform targets.)
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine import dist
from torch import Tensor, nn

from ..utils.ssl_monitors import segment_sum
from .sinkhorn_knopp import sinkhorn_knopp

CENTERING_MODES = ('ema', 'sinkhorn_knopp')


def teacher_probs(teacher_logits: Tensor, center: Tensor, teacher_temp: float) -> Tensor:
    """Teacher target H'(x'): softmax((logits - center) / teacher_temp), without gradient."""
    return F.softmax((teacher_logits.detach().float() - center) / teacher_temp, dim=-1)


def teacher_student_cross_entropy(
    student_logits: Tensor,
    target_probs: Tensor,
    student_temp: float,
    weight: Tensor | None = None,
    segments: Tensor | None = None,
    num_segments: int = 1,
) -> Tensor:
    """Mean over rows of -sum_k P_t[k] log softmax(student / student_temp)[k] (eq. 4).

    Args:
        student_logits: ``... x K``.
        target_probs: ``... x K`` teacher distribution (same leading shape).
        student_temp: student temperature.
        weight: optional ``...`` weights (0 drops a row); the result is their weighted mean, and 0
            (connected to the graph) when every weight is 0.
        segments: optional ``...`` long, the term (``0 .. num_segments - 1``) of each row: the
            result is then the ``num_segments`` terms' means, one per term.
    """
    if student_logits.shape != target_probs.shape:
        raise ValueError(
            'teacher_student_cross_entropy: student_logits '
            f'{tuple(student_logits.shape)} and target_probs '
            f'{tuple(target_probs.shape)} differ'
        )
    log_p = F.log_softmax(student_logits.float() / student_temp, dim=-1)
    ce = -(target_probs * log_p).sum(dim=-1)
    if segments is not None:
        ce = ce.reshape(-1)
        w = ce.new_ones(ce.shape) if weight is None else weight.reshape(-1).to(ce.dtype)
        total = segment_sum(w, segments.reshape(-1), num_segments)
        return segment_sum(ce * w, segments.reshape(-1), num_segments) / total.clamp_min(1.0)
    if weight is None:
        return ce.mean()
    weight = weight.to(ce.dtype)
    # no branch on the weights' sum (a host read): with every weight 0 the sum is 0 (ce is
    # finite), divided by the clamped 1
    return (ce * weight).sum() / weight.sum().clamp_min(1.0)


class TeacherCentering(nn.Module):
    """DINO centering: a running mean of teacher logits subtracted before the softmax.

    Centering keeps one dimension from dominating and, with sharpening, avoids collapse. The
    centre is an EMA of the batch mean of teacher logits, averaged over data-parallel ranks
    (``mmengine.dist.all_reduce``, a no-op when not distributed) so every rank holds the same one.

    Args:
        out_dims: K, the number of head outputs.
        momentum: EMA momentum of the centre.
        mode: how :meth:`targets` makes the teacher's targets: ``'ema'`` (DINO: softmax of the
            logits less the centre) or ``'sinkhorn_knopp'`` (DINOv2: the equipartitioned plan of
            the batch's logits, ``sinkhorn_iters`` steps, over data-parallel ranks). The centre
            is kept in both modes (its norm is a monitor).
        sinkhorn_iters: Sinkhorn-Knopp steps in ``'sinkhorn_knopp'`` mode.
    """

    def __init__(
        self, out_dims: int, momentum: float = 0.9, mode: str = 'ema', sinkhorn_iters: int = 3
    ) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f'TeacherCentering: `momentum` must be in [0, 1], got {momentum}')
        if mode not in CENTERING_MODES:
            raise ValueError(
                f'TeacherCentering: `mode` must be one of {CENTERING_MODES}, got {mode!r}'
            )
        self.momentum = momentum
        self.mode = mode
        self.sinkhorn_iters = sinkhorn_iters
        self.register_buffer('center', torch.zeros(1, out_dims))

    @torch.no_grad()
    def targets(
        self, teacher_logits: Tensor, teacher_temp: float, weight: Tensor | None = None
    ) -> Tensor:
        """The teacher's target distributions of ``teacher_logits`` (``... x K``); rows whose
        ``weight`` is 0 take no part in the Sinkhorn-Knopp plan (and get zeros there)."""
        return TeacherCentering.targets_many([self], teacher_logits, teacher_temp, weight)

    @staticmethod
    @torch.no_grad()
    def targets_many(
        centerings: Sequence['TeacherCentering'],
        teacher_logits: Tensor,
        teacher_temp: float,
        weight: Tensor | None = None,
        segments: Tensor | None = None,
    ) -> Tensor:
        """:meth:`targets` of several terms in one call: row ``i`` of ``teacher_logits``
        (``N x K``) belongs to the term of ``centerings[segments[i]]`` (``segments`` None: one
        term) and is centred by its centre, or planned with the rows of its term alone."""
        mode = centerings[0].mode
        if any(c.mode != mode for c in centerings):
            raise ValueError('TeacherCentering.targets_many: the terms mix centring modes')
        if mode == 'ema':
            if segments is None:
                center = centerings[0].center
            else:
                center = torch.cat([c.center for c in centerings]).index_select(0, segments)
            return teacher_probs(teacher_logits, center, teacher_temp)
        k = teacher_logits.shape[-1]
        mask = None if weight is None else (weight.detach().reshape(-1) > 0)
        plan = sinkhorn_knopp(
            teacher_logits.detach().float().reshape(-1, k),
            epsilon=teacher_temp,
            num_iters=centerings[0].sinkhorn_iters,
            row_mask=mask,
            groups=segments,
            num_groups=None if segments is None else len(centerings),
        )
        return plan.reshape(teacher_logits.shape)

    @torch.no_grad()
    def update(self, teacher_logits: Tensor, weight: Tensor | None = None) -> None:
        """Moves the centre towards the (weighted) mean of ``teacher_logits`` (``... x K``)."""
        TeacherCentering.update_many([self], teacher_logits, weight)

    @staticmethod
    @torch.no_grad()
    def update_many(
        centerings: Sequence['TeacherCentering'],
        teacher_logits: Tensor,
        weight: Tensor | None = None,
        segments: Tensor | None = None,
    ) -> None:
        """:meth:`update` of several terms in one call (rows as in :meth:`targets_many`), with
        one all-reduce for all of them."""
        logits = teacher_logits.detach().float().reshape(-1, teacher_logits.shape[-1])
        if weight is None:
            w = torch.ones(logits.shape[0], device=logits.device)
        else:
            w = weight.detach().float().reshape(-1)
        num = len(centerings)
        weighted = torch.cat([logits * w[:, None], w[:, None]], 1)
        stats = segment_sum(weighted, segments, num)  # M x (K + 1): sums, then weights
        if dist.get_world_size() > 1:
            dist.all_reduce(stats, op='sum')
        total = stats[:, -1:]
        batch_centers = stats[:, :-1] / total
        for c, batch_center, t in zip(centerings, batch_centers, total, strict=True):
            # without any weight the centre stays: chosen on the device, not by a host branch
            moved = c.center * c.momentum + batch_center * (1 - c.momentum)
            c.center.copy_(torch.where(t > 0, moved, c.center))
