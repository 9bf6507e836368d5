"""Query-based Semantic Aggregation Contrastive Learning loss (QSACL), paper eq. 3-4.

    L_QSACL = 1/(2m) sum_{i=1..m} ( L_CL(z_i^g, z_i^l) + L_CL(z_i^l, z_i^g) )      (3)
    L_CL(x, x') = -H(x) log H'(x')                                                 (4)

z_i^g, z_i^l are the i-th query's aggregated features of global and local views (the query
aggregation module), H the student DINO head and H' its EMA. Reading adopted here, stated because
the paper's text is terse: each L_CL term is DINO's cross-entropy [6] in which the teacher (H')
distribution of one view is the target and the student (H) distribution of the other view is
trained; the first term takes teacher global / student local, the second teacher local / student
global; each term is averaged over every (global, local) pair of a sample and over the batch.
"""

import torch
from torch import Tensor, nn

from mmskysense.registry import MODELS

from ..utils.ssl_monitors import teacher_student_monitors
from .teacher_student_ce import TeacherCentering, teacher_student_cross_entropy


def _check(name: str, x: Tensor, dims: int = 4) -> None:
    if not isinstance(x, Tensor) or x.dim() != dims:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f'QSACLLoss: `{name}` must be a B x V x m x K tensor, got {shape}')


@MODELS.register_module()
class QSACLLoss(nn.Module):
    """QSACL (eq. 3-4) over m queries, 2 directions, all global-local view pairs.

    Args:
        out_dims: K, the DINO head's output size.
        student_temp: student softmax temperature.
        center_momentum: momentum of the teacher centering (DINO).
        centering: ``'ema'`` (DINO's centre, the paper's) or ``'sinkhorn_knopp'`` (DINOv2's
            equipartition; see ``teacher_student_ce``).
    """

    def __init__(
        self,
        out_dims: int,
        student_temp: float = 0.1,
        center_momentum: float = 0.9,
        centering: str = 'ema',
    ) -> None:
        super().__init__()
        self.student_temp = student_temp
        self.centering = TeacherCentering(out_dims, center_momentum, mode=centering)

    def forward(
        self,
        student_global: Tensor,
        student_local: Tensor,
        teacher_global: Tensor,
        teacher_local: Tensor,
        teacher_temp: float,
    ) -> dict[str, Tensor]:
        """Args are head logits ``B x V x m x K`` (V = global or local view count).

        Returns ``dict(loss_qsacl=...)`` (unweighted) and the two directions for logging, with
        their monitors (``ssl_monitors.teacher_student_monitors``).
        """
        for name, x in (
            ('student_global', student_global),
            ('student_local', student_local),
            ('teacher_global', teacher_global),
            ('teacher_local', teacher_local),
        ):
            _check(name, x)
        if (
            student_global.shape != teacher_global.shape
            or student_local.shape != teacher_local.shape
        ):
            raise ValueError(
                'QSACLLoss: student and teacher logits of the same views must have the same shape'
            )
        center = self.centering.center
        pt_g = self.centering.targets(teacher_global, teacher_temp)  # B x Vg x m x K
        pt_l = self.centering.targets(teacher_local, teacher_temp)
        # The mean over every (global, local) pair, batch and query of a direction's
        # cross-entropy. The cross-entropy is linear in its target, so the mean over the Vg
        # (or Vl) targets of one student view is the cross-entropy to their mean distribution:
        # no B x Vg x Vl x m x K pair expansion is built.
        global_to_local = teacher_student_cross_entropy(
            student_local, pt_g.mean(1, keepdim=True).expand_as(student_local), self.student_temp
        )
        local_to_global = teacher_student_cross_entropy(
            student_global, pt_l.mean(1, keepdim=True).expand_as(student_global), self.student_temp
        )
        loss = 0.5 * (global_to_local + local_to_global)  # the 1/(2m) sum of eq. 3
        monitors = teacher_student_monitors('qsacl_g2l', pt_g, global_to_local, center=center)
        monitors.update(teacher_student_monitors('qsacl_l2g', pt_l, local_to_global, center=center))
        self.centering.update(
            torch.cat([teacher_global.flatten(0, 2), teacher_local.flatten(0, 2)])
        )
        return dict(
            loss_qsacl=loss,
            qsacl_g2l=global_to_local.detach(),
            qsacl_l2g=local_to_global.detach(),
            **monitors,
        )
