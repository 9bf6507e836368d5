"""Multi-Granularity Contrastive Learning loss (MGCL), paper section 3.2 (from SkySense V1).

For each modality, the teacher/student cross-entropy of eq. 4 (DINO [42]) at three granularities:

* pixel: each student token against the teacher token of another view that covers the same
  ground (the algorithm finds the pairs from the views' ground boxes and flips/rotations);
* object: tokens of the shared ground grouped into objects by Sinkhorn-Knopp clustering of the
  teacher's features (`group_objects`), the group means of student and teacher features compared;
* image: the views' pooled features, every student view against every other teacher view.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmskysense.registry import MODELS

from .sinkhorn_knopp import sinkhorn_knopp
from .teacher_student_ce import TeacherCentering, teacher_probs, teacher_student_cross_entropy

GRANULARITIES = ('pixel', 'object', 'image')


@torch.no_grad()
def group_objects(
    feats: Tensor, mask: Tensor, num_objects: int, num_iters: int = 3, epsilon: float = 0.05
) -> Tensor:
    """Soft object masks of each image by Sinkhorn-Knopp clustering of its token features.

    A few rounds of equipartitioned soft k-means: centroids start at ``num_objects`` valid tokens
    spread evenly over the valid set, tokens are assigned with Sinkhorn-Knopp (within each image,
    so no object swallows the image), centroids are re-estimated.

    Args:
        feats: ``B x N x C`` token features (the teacher's).
        mask: ``B x N`` bool, tokens that may belong to an object.
        num_objects: objects per image.

    Returns:
        ``B x N x num_objects`` assignment; rows of valid tokens sum to 1, invalid rows are 0.
    """
    if feats.dim() != 3 or mask.shape != feats.shape[:2]:
        raise ValueError(
            f'group_objects: `feats` must be B x N x C and `mask` B x N, got '
            f'{tuple(feats.shape)} and {tuple(mask.shape)}'
        )
    b, n, _ = feats.shape
    x = F.normalize(feats.float(), dim=-1)
    counts = mask.sum(1)  # B
    # valid tokens first, in their original order, then pick evenly spaced ranks
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
    ranks = (
        torch.arange(num_objects, device=feats.device)[None].float()
        * counts[:, None].clamp_min(1).float()
        / num_objects
    ).long()
    init_idx = torch.gather(order, 1, ranks.clamp_max(n - 1))
    centroids = torch.gather(x, 1, init_idx[..., None].expand(-1, -1, x.shape[-1]))
    groups = torch.arange(b, device=feats.device)[:, None].expand(b, n).reshape(-1)
    assign = x.new_zeros(b, n, num_objects)
    for _ in range(num_iters):
        scores = torch.einsum('bnc,bkc->bnk', x, centroids)
        # per-image marginals: not reduced over ranks (each image is clustered on its own)
        assign = sinkhorn_knopp(
            scores.reshape(b * n, num_objects),
            epsilon=epsilon,
            row_mask=mask.reshape(-1),
            groups=groups,
            num_groups=b,
            distributed=False,
        ).reshape(b, n, num_objects)
        centroids = F.normalize(torch.einsum('bnk,bnc->bkc', assign, x), dim=-1)
    return assign


def pool_objects(feats: Tensor, assign: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """Object features as assignment-weighted means of ``feats`` over tokens where ``weight`` > 0.

    Args:
        feats: ``B x N x C``; assign: ``B x N x K``; weight: ``B x N`` (1 for shared valid ground).

    Returns:
        ``B x K x C`` object features and ``B x K`` object masses (0: object absent there).
    """
    a = assign * weight.unsqueeze(-1).to(assign.dtype)
    mass = a.sum(1)  # B x K
    obj = torch.einsum('bnk,bnc->bkc', a.to(feats.dtype), feats) / mass.clamp_min(1e-6).unsqueeze(
        -1
    ).to(feats.dtype)
    return obj, mass


@MODELS.register_module()
class MGCLLoss(nn.Module):
    """MGCL: eq. 4 at pixel, object and image granularity, for each modality.

    Args:
        out_dims: head output size per granularity, e.g. ``dict(pixel=1024, object=1024,
            image=4096)`` (an int: the same for all).
        modalities: modality names (each gets its own teacher centres).
        granularity_weights: weight of each granularity inside MGCL.
        student_temp: student temperature.
        center_momentum: momentum of the teacher centering.
        min_object_mass: objects covering fewer tokens of the shared ground are ignored.
    """

    def __init__(
        self,
        out_dims: int | dict[str, int],
        modalities: Sequence[str] = ('hr', 's2', 's1'),
        granularity_weights: dict[str, float] | None = None,
        student_temp: float = 0.1,
        center_momentum: float = 0.9,
        min_object_mass: float = 0.5,
    ) -> None:
        super().__init__()
        if isinstance(out_dims, int):
            out_dims = {g: out_dims for g in GRANULARITIES}
        missing = [g for g in GRANULARITIES if g not in out_dims]
        if missing:
            raise ValueError(f'MGCLLoss: `out_dims` lacks granularities {missing}')
        self.modalities = tuple(modalities)
        self.granularity_weights = dict(pixel=1.0, object=1.0, image=1.0)
        self.granularity_weights.update(granularity_weights or {})
        self.student_temp = student_temp
        self.min_object_mass = min_object_mass
        self.centering = nn.ModuleDict(
            {
                f'{g}_{m}': TeacherCentering(out_dims[g], center_momentum)
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
            ``mgcl_<granularity>_<modality>`` for logging.
        """
        out: dict[str, Tensor] = {}
        total = None
        for modality in self.modalities:
            if modality not in terms:
                raise KeyError(
                    f'MGCLLoss: no terms for modality {modality!r} (got {sorted(terms)})'
                )
            for g in GRANULARITIES:
                if g not in terms[modality]:
                    raise KeyError(f'MGCLLoss: terms[{modality!r}] lacks granularity {g!r}')
                student, teacher, weight = terms[modality][g]
                if g == 'object':
                    weight = (weight >= self.min_object_mass).to(student.dtype)
                centering = self.centering[f'{g}_{modality}']
                target = teacher_probs(teacher, centering.center, teacher_temp)
                loss = teacher_student_cross_entropy(student, target, self.student_temp, weight)
                centering.update(teacher, weight)
                out[f'mgcl_{g}_{modality}'] = loss.detach()
                term = self.granularity_weights[g] * loss
                total = term if total is None else total + term
        out['loss_mgcl'] = total / len(self.modalities)
        return out
