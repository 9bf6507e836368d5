"""The teacher/student cross-entropy of DINO with centering, shared by MGCL and QSACL.

Paper eq. 4: L_CL(x, x') = -H(x) log H'(x'), with H the student head and H' its EMA (teacher)
"as defined in [6]" (DINO). Following DINO, the teacher distribution is the sharpened softmax of
its centred logits and is the target; the student's log-softmax carries the gradient.
"""

import torch
import torch.nn.functional as F
from mmengine import dist
from torch import Tensor, nn


def teacher_probs(teacher_logits: Tensor, center: Tensor, teacher_temp: float) -> Tensor:
    """Teacher target H'(x'): softmax((logits - center) / teacher_temp), without gradient."""
    return F.softmax((teacher_logits.detach().float() - center) / teacher_temp, dim=-1)


def teacher_student_cross_entropy(
    student_logits: Tensor, target_probs: Tensor, student_temp: float, weight: Tensor | None = None
) -> Tensor:
    """Mean over rows of -sum_k P_t[k] log softmax(student / student_temp)[k] (eq. 4).

    Args:
        student_logits: ``... x K``.
        target_probs: ``... x K`` teacher distribution (same leading shape).
        student_temp: student temperature.
        weight: optional ``...`` weights (0 drops a row); the result is their weighted mean, and 0
            (connected to the graph) when every weight is 0.
    """
    if student_logits.shape != target_probs.shape:
        raise ValueError(
            'teacher_student_cross_entropy: student_logits '
            f'{tuple(student_logits.shape)} and target_probs '
            f'{tuple(target_probs.shape)} differ'
        )
    log_p = F.log_softmax(student_logits.float() / student_temp, dim=-1)
    ce = -(target_probs * log_p).sum(dim=-1)
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
    """

    def __init__(self, out_dims: int, momentum: float = 0.9) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f'TeacherCentering: `momentum` must be in [0, 1], got {momentum}')
        self.momentum = momentum
        self.register_buffer('center', torch.zeros(1, out_dims))

    @torch.no_grad()
    def update(self, teacher_logits: Tensor, weight: Tensor | None = None) -> None:
        """Moves the centre towards the (weighted) mean of ``teacher_logits`` (``... x K``)."""
        logits = teacher_logits.detach().float().reshape(-1, teacher_logits.shape[-1])
        if weight is None:
            w = torch.ones(logits.shape[0], device=logits.device)
        else:
            w = weight.detach().float().reshape(-1)
        stats = torch.cat([(logits * w[:, None]).sum(0), w.sum().reshape(1)])
        if dist.get_world_size() > 1:
            dist.all_reduce(stats, op='sum')
        total = stats[-1]
        batch_center = (stats[:-1] / total).unsqueeze(0)
        # without any weight the centre stays: chosen on the device, not by a host branch
        moved = self.center * self.momentum + batch_center * (1 - self.momentum)
        self.center.copy_(torch.where(total > 0, moved, self.center))
