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
from mmskysense.structures import (
    GROUPS,
    EncodedViews,
    PretrainBatch,
    ViewGroup,
    token_correspondence,
)
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


def _rowwise(fn: nn.Module, inputs: dict) -> dict:
    """``fn`` (a row-wise projection) of each tensor of ``inputs`` (``... x C``), by one call
    over all their rows."""
    flat = torch.cat([x.reshape(-1, x.shape[-1]) for x in inputs.values()])
    out = fn(flat).split([x.numel() // x.shape[-1] for x in inputs.values()])
    return {k: y.view(*x.shape[:-1], y.shape[-1]) for (k, x), y in zip(inputs.items(), out)}


def _view_pairs(
    n_student: int, n_teacher: int, exclude_self: bool, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Student view ``i`` and teacher view ``j`` of every pair, ``i``-major, without ``i == j``
    when ``exclude_self`` (the global views: student and teacher take the same views). Made by
    arithmetic on the device: a tensor of host indices would be a host-to-device copy."""
    if not exclude_self:
        p = torch.arange(n_student * n_teacher, device=device)
        return p // n_teacher, p % n_teacher
    if n_student != n_teacher:
        raise ValueError(
            f'MGCLHead: the student has {n_student} global views and the teacher {n_teacher}'
        )
    others = n_teacher - 1
    p = torch.arange(n_student * others, device=device)
    i, r = p // max(others, 1), p % max(others, 1)
    return i, r + (r >= i).long()  # skip j == i


def _pair_correspondence(
    src: ViewGroup,
    dst: ViewGroup,
    src_views: Tensor,
    dst_views: Tensor,
    src_grid: tuple[int, int],
    dst_grid: tuple[int, int],
) -> Tensor:
    """``token_correspondence`` of the view pairs ``(src_views[p], dst_views[p])`` in one call:
    ``P x B x L_src`` (each sample's pair is independent of the others, so the pairs are more
    rows of one batch)."""
    p, b = src_views.numel(), src.view_boxes.shape[0]

    def rows(views: ViewGroup, which: Tensor, what: str) -> Tensor:
        x = getattr(views, what).transpose(0, 1).index_select(0, which.to(views.view_boxes.device))
        return x.reshape(p * b, -1)

    idx = token_correspondence(
        rows(src, src_views, 'view_boxes'),
        rows(src, src_views, 'view_geo_ops'),
        src_grid,
        rows(dst, dst_views, 'view_boxes'),
        rows(dst, dst_views, 'view_geo_ops'),
        dst_grid,
    )
    return idx.reshape(p, b, -1).to(src_views.device)


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

    def _objects(self, tokens: dict[str, Tensor], masks: dict[str, Tensor]) -> dict[str, Tensor]:
        """Objects: Sinkhorn-Knopp groups of each teacher view's tokens (``B x Vg x L x C``,
        masks ``B x Vg x L``), each image alone; the views of every modality in one
        :func:`group_objects` call, shorter token rows padded with masked-out tokens (which
        take no mass)."""
        length = max(t.shape[2] for t in tokens.values())

        def padded(t: Tensor, fill) -> Tensor:
            t = t.flatten(0, 1)
            if t.shape[1] == length:
                return t
            pad = t.new_full((t.shape[0], length - t.shape[1], *t.shape[2:]), fill)
            return torch.cat([t, pad], 1)

        assign = group_objects(
            torch.cat([padded(t, 0.0) for t in tokens.values()]),
            torch.cat([padded(masks[m], False) for m in tokens]),
            self.num_objects,
        )
        sizes = [t.shape[0] * t.shape[1] for t in tokens.values()]
        return {
            m: a[:, : t.shape[2]].unflatten(0, t.shape[:2])
            for (m, t), a in zip(tokens.items(), assign.split(sizes), strict=True)
        }

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
        # Every (student view, teacher view) pair of a view group at once: the pairs are the
        # leading dim P of each tensor, laid out (and concatenated) in the order of a loop over
        # group, student view i, teacher view j, so rows come out pair-major, then by sample,
        # then by token.
        n_teacher = teacher['global_views'].maps[self.modalities[0]].shape[1]
        pairs = {}  # group -> (student view, teacher view) of each pair: two P-long tensors
        for group in GROUPS:
            maps = student[group].maps[self.modalities[0]]
            # a view is not its own target
            view_pairs = _view_pairs(maps.shape[1], n_teacher, group == 'global_views', maps.device)
            if view_pairs[0].numel():  # a group without views (or one global view) pairs nothing
                pairs[group] = view_pairs
        # the projections are row-wise: one call per head over every modality's rows
        t_tokens = {
            m: teacher['global_views'].maps[m].flatten(3).transpose(2, 3)  # B x Vg x L_t x C
            for m in self.modalities
        }
        s_tokens = {
            (m, group): student[group].maps[m].flatten(3).transpose(2, 3)  # B x Vs x L_s x C
            for m in self.modalities
            for group in pairs
        }
        t_pixel_logits = _rowwise(heads_t['pixel'], t_tokens)
        s_pixel_logits = _rowwise(heads_s['pixel'], s_tokens)
        t_masks = {m: teacher['global_views'].map_masks[m].flatten(2) for m in self.modalities}
        assigns = self._objects(t_tokens, t_masks)
        rows, pairs_cache = {}, {}
        for m in self.modalities:
            t_grid = tuple(teacher['global_views'].maps[m].shape[-2:])
            t_mask_flat = t_masks[m]
            assign = assigns[m]  # B x Vg x L_t x K_obj
            t_pooled = masked_mean(t_tokens[m], t_mask_flat, dim=2)  # B x Vg x C
            got = {k: [] for k in ('pix_s', 'pix_t', 'pix_w', 'obj_s', 'obj_t', 'obj_w')}
            img_s, img_t = [], []
            for group, (s_views, t_views) in pairs.items():
                tokens = s_tokens[m, group]
                s_grid = tuple(student[group].maps[m].shape[-2:])
                s_mask = student[group].map_masks[m].flatten(2)  # B x Vs x L_s
                key = (group, s_grid, t_grid)  # modalities on one grid share it
                if key not in pairs_cache:
                    pairs_cache[key] = _pair_correspondence(
                        getattr(batch, group), batch.global_views, s_views, t_views, s_grid, t_grid
                    )
                idx = pairs_cache[key]  # P x B x L_s
                safe = idx.clamp_min(0)

                def gather(t: Tensor) -> Tensor:
                    """Teacher rows ``B x Vg x L_t x D`` -> those paired: ``P x B x L_s x D``."""
                    t = t.transpose(0, 1).index_select(0, t_views)
                    return torch.gather(t, 2, safe[..., None].expand(-1, -1, -1, t.shape[-1]))

                s_first = lambda t: t.transpose(0, 1).index_select(0, s_views)  # noqa: E731
                pair = (idx >= 0) & s_first(s_mask) & gather(t_mask_flat[..., None])[..., 0]
                weight = pair.float()
                got['pix_s'].append(s_first(s_pixel_logits[m, group]))
                got['pix_t'].append(gather(t_pixel_logits[m]))
                got['pix_w'].append(weight)
                a = gather(assign)  # P x B x L_s x K_obj
                so, mass = pool_objects(
                    s_first(tokens).flatten(0, 1), a.flatten(0, 1), weight.flatten(0, 1)
                )
                to, _ = pool_objects(
                    gather(t_tokens[m]).flatten(0, 1), a.flatten(0, 1), weight.flatten(0, 1)
                )
                got['obj_s'].append(so)
                got['obj_t'].append(to)
                got['obj_w'].append(mass)
                img_s.append(masked_mean(tokens, s_mask, dim=2).index_select(1, s_views))
                img_t.append(t_pooled.index_select(1, t_views))
            rows[m] = dict(got, img_s=torch.cat(img_s, 1), img_t=torch.cat(img_t, 1))
        cat = lambda xs: torch.cat([x.reshape(-1, x.shape[-1]) for x in xs])  # noqa: E731
        flat = lambda xs: torch.cat([x.reshape(-1) for x in xs])  # noqa: E731
        obj_s = _rowwise(heads_s['object'], {m: cat(r['obj_s']) for m, r in rows.items()})
        obj_t = _rowwise(heads_t['object'], {m: cat(r['obj_t']) for m, r in rows.items()})
        img_s = _rowwise(heads_s['image'], {m: r['img_s'] for m, r in rows.items()})  # B x P x K
        img_t = _rowwise(heads_t['image'], {m: r['img_t'] for m, r in rows.items()})
        return {
            m: dict(
                pixel=(cat(r['pix_s']), cat(r['pix_t']), flat(r['pix_w'])),
                object=(obj_s[m], obj_t[m], flat(r['obj_w'])),
                image=(img_s[m], img_t[m], torch.ones(img_s[m].shape[:2], device=img_s[m].device)),
            )
            for m, r in rows.items()
        }
