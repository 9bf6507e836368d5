"""Multi-Granularity Contrastive Learning head (MGCL), paper section 3.2 (from SkySense V1).

For each modality, the teacher/student cross-entropy of eq. 4 at three granularities, with
student and teacher taking different views of the same ground:

* pixel: each student token against the teacher token of a global view that covers the same
  ground (``token_correspondence``, through both views' ground boxes, flips and rotations);
* object: the shared tokens grouped into objects by Sinkhorn-Knopp clustering of the teacher's
  features (:func:`group_objects`), the group means of student and teacher compared;
* image: the views' pooled features, every student view against every other teacher view.

The head owns the projections (one ``DINOHead`` per granularity), this pairing and the loss
(``MGCLLoss``: centring and cross-entropy).
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmskysense.registry import MODELS
from mmskysense.structures import GROUPS, EncodedViews, PretrainBatch, token_correspondence
from mmskysense.structures.modalities import modality_names

from ..losses.mgcl import GRANULARITIES
from ..losses.sinkhorn_knopp import sinkhorn_knopp
from ..utils.precision import float32_region


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
    with float32_region(feats):  # cosine scores for the plan, also under a bf16 autocast
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


def masked_mean(x: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Mean of ``x`` over ``dim`` where ``mask`` (broadcast over x's trailing channel dims)."""
    w = mask.to(x.dtype)
    while w.dim() < x.dim():
        w = w.unsqueeze(-1)
    return (x * w).sum(dim) / w.sum(dim).clamp_min(1e-6)


@MODELS.register_module()
class MGCLHead(BaseModule):
    """MGCL's projections, view pairing and loss, per modality.

    Args:
        in_dims: channels of the backbone's last stage.
        out_dims: head outputs per granularity, ``dict(pixel=, object=, image=)`` (or one int).
        modalities: the modalities trained, in the batch's order.
        projector: ``DINOHead`` config without ``in_dims`` / ``out_dims``.
        num_objects: objects per view at the object level.
        loss: ``MGCLLoss`` config without ``out_dims`` / ``modalities`` (given here).
        init_cfg: mmengine initialisation config.
    """

    def __init__(
        self,
        in_dims: int,
        out_dims: int | dict[str, int],
        modalities: Sequence[str] | None = None,
        projector: dict | None = None,
        num_objects: int = 4,
        loss: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(out_dims, int):
            out_dims = {g: out_dims for g in GRANULARITIES}
        missing = [g for g in GRANULARITIES if g not in out_dims]
        if missing:
            raise ValueError(f'MGCLHead: `out_dims` lacks granularities {missing}')
        # None: every modality of the table
        self.modalities = modality_names() if modalities is None else tuple(modalities)
        self.num_objects = num_objects
        projector = dict(dict(type='DINOHead'), **(projector or {}))
        self.projector = nn.ModuleDict(
            {
                g: MODELS.build(dict(projector, in_dims=in_dims, out_dims=out_dims[g]))
                for g in GRANULARITIES
            }
        )
        self.loss_module = MODELS.build(
            dict(
                dict(type='MGCLLoss'),
                **(loss or {}),
                out_dims=dict(out_dims),
                modalities=self.modalities,
            )
        )

    def loss(
        self,
        student: dict[str, EncodedViews],
        teacher: dict[str, EncodedViews],
        batch: PretrainBatch,
        teacher_projector: nn.ModuleDict,
        teacher_temp: float,
    ) -> dict[str, Tensor]:
        """``loss_mgcl`` (unweighted) and every ``mgcl_<granularity>_<modality>`` term.

        Args:
            student: per view group, the student's encoded views.
            teacher: per view group, the teacher's (only the global views are targets).
            batch: the batch (view boxes and geometric ops pair the tokens).
            teacher_projector: the teacher's copy of :attr:`projector`.
            teacher_temp: the teacher temperature.
        """
        return self.loss_module(
            self.paired_logits(student, teacher, batch, teacher_projector), teacher_temp
        )

    def paired_logits(
        self,
        student: dict[str, EncodedViews],
        teacher: dict[str, EncodedViews],
        batch: PretrainBatch,
        teacher_projector: nn.ModuleDict,
    ) -> dict[str, dict[str, tuple]]:
        """``terms[modality][granularity] = (student_logits, teacher_logits, weight)``: the
        rows of every student view paired with every global teacher view but itself."""
        heads_s, heads_t = self.projector, teacher_projector
        missing = [m for m in self.modalities if m not in student['global_views'].maps]
        if missing:
            raise KeyError(
                f'MGCLHead: the batch lacks modalities {missing} (it has '
                f'{sorted(student["global_views"].maps)})'
            )
        first = self.modalities[0]
        views = [(g, i) for g in GROUPS for i in range(student[g].maps[first].shape[1])]
        n_teacher = teacher['global_views'].maps[first].shape[1]
        global_boxes = batch.global_views.view_boxes
        global_ops = batch.global_views.view_geo_ops
        terms, pairs_cache = {}, {}
        for m in self.modalities:
            t_maps = teacher['global_views'].maps[m]  # B x Vg x C x h x w
            t_masks = teacher['global_views'].map_masks[m]
            t_grid = tuple(t_maps.shape[-2:])
            t_tokens = t_maps.flatten(3).transpose(2, 3)  # B x Vg x L_t x C
            t_mask_flat = t_masks.flatten(2)
            t_pixel_logits = heads_t['pixel'](t_tokens)
            # objects: Sinkhorn-Knopp groups of each teacher view's tokens
            assign = torch.stack(
                [
                    group_objects(t_tokens[:, j], t_mask_flat[:, j], self.num_objects)
                    for j in range(n_teacher)
                ],
                dim=1,
            )  # B x Vg x L_t x K_obj
            pix_s, pix_t, pix_w = [], [], []
            obj_s, obj_t, obj_w = [], [], []
            img_s, img_t = [], []
            t_pooled = masked_mean(t_tokens, t_mask_flat, dim=2)  # B x Vg x C
            for group, i in views:
                s_map = student[group].maps[m][:, i]
                s_grid = tuple(s_map.shape[-2:])
                s_tokens = s_map.flatten(2).transpose(1, 2)  # B x L_s x C
                s_mask = student[group].map_masks[m][:, i].flatten(1)
                s_pixel_logits = heads_s['pixel'](s_tokens)
                s_pooled = masked_mean(s_tokens, s_mask, dim=1)
                view_group = getattr(batch, group)
                for j in range(n_teacher):
                    if group == 'global_views' and i == j:
                        continue  # a view is not its own target
                    key = (group, i, j, s_grid, t_grid)  # modalities on one grid share it
                    if key not in pairs_cache:
                        pairs_cache[key] = token_correspondence(
                            view_group.view_boxes[:, i],
                            view_group.view_geo_ops[:, i],
                            s_grid,
                            global_boxes[:, j],
                            global_ops[:, j],
                            t_grid,
                        )  # B x L_s
                    idx = pairs_cache[key]
                    safe = idx.clamp_min(0)
                    gather = lambda t: torch.gather(  # noqa: E731
                        t, 1, safe[..., None].expand(-1, -1, t.shape[-1])
                    )
                    pair = (idx >= 0) & s_mask & torch.gather(t_mask_flat[:, j], 1, safe)
                    pix_s.append(s_pixel_logits)
                    pix_t.append(gather(t_pixel_logits[:, j]))
                    pix_w.append(pair.float())
                    a = gather(assign[:, j])  # B x L_s x K_obj
                    so, mass = pool_objects(s_tokens, a, pair.float())
                    to, _ = pool_objects(gather(t_tokens[:, j]), a, pair.float())
                    obj_s.append(so)
                    obj_t.append(to)
                    obj_w.append(mass)
                    img_s.append(s_pooled)
                    img_t.append(t_pooled[:, j])
            cat = lambda xs: torch.cat([x.reshape(-1, x.shape[-1]) for x in xs])  # noqa: E731
            terms[m] = dict(
                pixel=(cat(pix_s), cat(pix_t), torch.cat([x.reshape(-1) for x in pix_w])),
                object=(
                    heads_s['object'](cat(obj_s)),
                    heads_t['object'](cat(obj_t)),
                    torch.cat([x.reshape(-1) for x in obj_w]),
                ),
                image=(
                    heads_s['image'](torch.stack(img_s, 1)),
                    heads_t['image'](torch.stack(img_t, 1)),
                    torch.ones(img_s[0].shape[0], len(img_s), device=img_s[0].device),
                ),
            )
        return terms
