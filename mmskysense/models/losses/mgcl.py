"""Multi-Granularity Contrastive Learning loss (MGCL), paper section 3.2 (from SkySense V1).

For each modality and granularity (pixel, object, image), the teacher/student cross-entropy of
eq. 4 (DINO [42]) on rows that ``MGCLHead`` has paired, each with its own teacher centre.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mmskysense.registry import MODELS
from mmskysense.structures.modalities import modality_names

from ..utils.ssl_monitors import teacher_student_monitors_many
from .teacher_student_ce import TeacherCentering, teacher_student_cross_entropy

GRANULARITIES = ('pixel', 'object', 'image')


@MODELS.register_module()
class MGCLLoss(nn.Module):
    """MGCL: eq. 4 at pixel, object and image granularity, for each modality.

    Args:
        out_dims: head output size per granularity, ``dict(pixel=, object=, image=)`` (given
            by ``MGCLHead``).
        modalities: modality names (each gets its own teacher centres).
        granularity_weights: weight of each granularity inside MGCL.
        student_temp: student temperature.
        center_momentum: momentum of the teacher centering.
        centering: ``'ema'`` (DINO's centre, the paper's) or ``'sinkhorn_knopp'`` (DINOv2's
            equipartition; see ``teacher_student_ce``).
        min_object_mass: objects covering fewer tokens of the shared ground are ignored.
    """

    def __init__(
        self,
        out_dims: dict[str, int],
        modalities: Sequence[str] | None = None,
        granularity_weights: dict[str, float] | None = None,
        student_temp: float = 0.1,
        center_momentum: float = 0.9,
        min_object_mass: float = 0.5,
        centering: str = 'ema',
    ) -> None:
        super().__init__()
        missing = [g for g in GRANULARITIES if g not in out_dims]
        if missing:
            raise ValueError(f'MGCLLoss: `out_dims` lacks granularities {missing}')
        # None: every modality of the table
        self.modalities = modality_names() if modalities is None else tuple(modalities)
        self.granularity_weights = dict(pixel=1.0, object=1.0, image=1.0)
        self.granularity_weights.update(granularity_weights or {})
        self.student_temp = student_temp
        self.min_object_mass = min_object_mass
        self.centering = nn.ModuleDict(
            {
                f'{g}_{m}': TeacherCentering(out_dims[g], center_momentum, mode=centering)
                for g in GRANULARITIES
                for m in self.modalities
            }
        )

    def forward(
        self, terms: dict[str, dict[str, tuple[Tensor, Tensor, Tensor]]], teacher_temp: float
    ) -> dict[str, Tensor]:
        """Args:
            terms: ``terms[modality][granularity] = (student_logits, teacher_logits, weight)``
                with logits ``... x K`` of paired rows and ``weight`` ``...`` (0 = no pair).
            teacher_temp: teacher temperature.

        Returns:
            ``loss_mgcl`` (mean over modalities of the weighted sum over granularities) and each
            ``mgcl_<granularity>_<modality>`` for logging, with its monitors
            (``mmskysense.models.utils.ssl_monitors.teacher_student_monitors``).
        """
        for modality in self.modalities:
            if modality not in terms:
                raise KeyError(
                    f'MGCLLoss: no terms for modality {modality!r} (got {sorted(terms)})'
                )
            for g in GRANULARITIES:
                if g not in terms[modality]:
                    raise KeyError(f'MGCLLoss: terms[{modality!r}] lacks granularity {g!r}')
        out: dict[str, Tensor] = {}
        total = None
        num = len(self.modalities)
        for g in GRANULARITIES:
            # the modalities' rows of a granularity stacked (their heads have one output size):
            # one call of each step for all of them, each row with its modality's centre
            parts = [terms[m][g] for m in self.modalities]
            k = parts[0][0].shape[-1]
            student = torch.cat([s.reshape(-1, k) for s, _, _ in parts])
            teacher = torch.cat([t.reshape(-1, k) for _, t, _ in parts])
            weight = torch.cat([w.reshape(-1) for _, _, w in parts])
            if g == 'object':
                weight = (weight >= self.min_object_mass).to(student.dtype)
            segments = None
            if num > 1:
                segments = torch.cat(
                    [
                        torch.full((s.numel() // k,), i, dtype=torch.long, device=s.device)
                        for i, (s, _, _) in enumerate(parts)
                    ]
                )
            centerings = [self.centering[f'{g}_{m}'] for m in self.modalities]
            target = TeacherCentering.targets_many(
                centerings, teacher, teacher_temp, weight, segments
            )
            losses = teacher_student_cross_entropy(
                student, target, self.student_temp, weight, segments, num
            ).reshape(num)
            names = [f'mgcl_{g}_{m}' for m in self.modalities]
            centers = torch.cat([c.center for c in centerings])
            out.update(
                teacher_student_monitors_many(names, target, losses, weight, segments, centers)
            )
            TeacherCentering.update_many(centerings, teacher, weight, segments)
            for name, loss in zip(names, losses.detach(), strict=True):
                out[name] = loss
            term = self.granularity_weights[g] * losses.sum()
            total = term if total is None else total + term
        out['loss_mgcl'] = total / num
        return out
