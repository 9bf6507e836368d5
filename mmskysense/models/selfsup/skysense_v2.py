"""SkySense V2 pretraining (paper section 3.2, Figure 5, eq. 3-5).

A student (unified backbone, multi-modal temporal fusion, query aggregation, heads) and a teacher,
the exponential moving average of the student, which takes no gradients and gives the targets.
The objective is eq. 5 extended as the paper describes in its text:

    L = l1 * MGCL + l2 * ITA + l3 * QSACL + l4 * GCPL + l5 * MoE load balancing

Schedules live in hooks (``mmskysense.engine.hooks``): the teacher momentum (and the EMA update
itself, after the optimiser step) and the teacher temperature.
"""

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from torch import Tensor, nn

from mmskysense.registry import MODELS

from ..losses.mgcl import group_objects, pool_objects
from .geo_correspondence import token_correspondence

GROUPS = ('global_views', 'local_views')
# the student modules the teacher mirrors, in a fixed order
STUDENT_MODULES = ('backbone', 'fusion', 'query_aggregation', 'heads', 'gcpl_proj', 'ita_proj')


def _build(cfg: dict | nn.Module | None, name: str) -> nn.Module | None:
    if cfg is None or isinstance(cfg, nn.Module):
        return cfg
    if not isinstance(cfg, dict):
        raise TypeError(
            f'SkySenseV2: `{name}` must be a config dict or a module, got {type(cfg).__name__}'
        )
    return MODELS.build(cfg)


def _token_mask(valid: Tensor, grid: tuple[int, int], min_fraction: float) -> Tensor:
    """``... x H x W`` pixel validity -> ``... x h x w``: a token holds data when at least
    ``min_fraction`` of its footprint does."""
    lead = valid.shape[:-2]
    frac = F.adaptive_avg_pool2d(valid.reshape(-1, 1, *valid.shape[-2:]).float(), grid)
    return (frac >= min_fraction).reshape(*lead, *grid)


def _masked_mean(x: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Mean of ``x`` over ``dim`` where ``mask`` (broadcast over x's trailing channel dims)."""
    w = mask.to(x.dtype)
    while w.dim() < x.dim():
        w = w.unsqueeze(-1)
    return (x * w).sum(dim) / w.sum(dim).clamp_min(1e-6)


@MODELS.register_module()
class SkySenseV2(BaseSelfSupervisor):
    """SkySense V2 teacher-student pretraining.

    Args:
        backbone: ``SkySenseV2Backbone`` config (multi-modal mode; its last output is used).
        fusion: ``MultiModalTemporalFusion`` config (F_fus).
        query_aggregation: ``QueryAggregation`` config (QSACL's queries and decoder layer).
        heads: ``dict(pixel=, object=, image=, query=)`` ``DINOHead`` configs (MGCL's three
            granularities and QSACL's H).
        mgcl_loss, qsacl_loss: ``MGCLLoss`` and ``QSACLLoss`` configs.
        gcpl_loss: ``GCPLLoss`` config or None; F_fus is projected to its ``dims``.
        ita_loss: ``ITALoss`` config or None; F_fus is projected to the text dimension.
        loss_weights: ``dict(mgcl=l1, ita=l2, qsacl=l3, gcpl=l4, moe=l5)`` (eq. 5).
        num_objects: objects per view for MGCL's object level.
        token_valid_fraction: a token holds data when this fraction of its pixels do.
        teacher_temp: initial teacher temperature (the temperature hook schedules it).
        base_momentum: initial teacher momentum (the momentum hook schedules it).
        data_preprocessor: ``SkySenseDataPreprocessor`` config.
        init_cfg: mmengine initialisation config.
    """

    def __init__(
        self,
        backbone: dict,
        fusion: dict,
        query_aggregation: dict,
        heads: dict[str, dict],
        mgcl_loss: dict,
        qsacl_loss: dict,
        gcpl_loss: dict | None = None,
        ita_loss: dict | None = None,
        loss_weights: dict[str, float] | None = None,
        num_objects: int = 4,
        token_valid_fraction: float = 0.5,
        teacher_temp: float = 0.04,
        base_momentum: float = 0.996,
        data_preprocessor: dict | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        data_preprocessor = _build(
            data_preprocessor or dict(type='SkySenseDataPreprocessor'), 'data_preprocessor'
        )
        super().__init__(
            backbone=_build(backbone, 'backbone'),
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
        )
        missing = {'pixel', 'object', 'image', 'query'} - set(heads or {})
        if missing:
            raise ValueError(f'SkySenseV2: `heads` lacks {sorted(missing)}')
        self.fusion = _build(fusion, 'fusion')
        self.query_aggregation = _build(query_aggregation, 'query_aggregation')
        self.heads = nn.ModuleDict({k: _build(v, f'heads.{k}') for k, v in heads.items()})
        self.mgcl_loss = _build(mgcl_loss, 'mgcl_loss')
        self.qsacl_loss = _build(qsacl_loss, 'qsacl_loss')
        self.gcpl_loss = _build(gcpl_loss, 'gcpl_loss')
        self.ita_loss = _build(ita_loss, 'ita_loss')
        fused_dims = self.fusion.embed_dims
        self.gcpl_proj = (
            nn.Linear(fused_dims, self.gcpl_loss.prototypes.shape[-1])
            if self.gcpl_loss is not None
            else None
        )
        self.ita_proj = (
            nn.Linear(fused_dims, self.ita_loss.text_dims) if self.ita_loss is not None else None
        )

        self.loss_weights = dict(mgcl=1.0, ita=1.0, qsacl=1.0, gcpl=1.0, moe=0.01)
        unknown = set(loss_weights or {}) - set(self.loss_weights)
        if unknown:
            raise ValueError(f'SkySenseV2: unknown `loss_weights` keys {sorted(unknown)}')
        self.loss_weights.update(loss_weights or {})
        self.modalities = tuple(self.mgcl_loss.modalities)
        self.num_objects = num_objects
        self.token_valid_fraction = token_valid_fraction
        self.teacher_temp = teacher_temp
        self.momentum = base_momentum

        # The teacher: the same modules, never trained by the optimiser (no gradients).
        self.teacher = nn.ModuleDict(
            {name: copy.deepcopy(getattr(self, name)) for name in self.student_module_names}
        )
        self.teacher.requires_grad_(False)

    # ----------------------------------------------------------------- teacher
    @property
    def student_module_names(self) -> tuple[str, ...]:
        return tuple(n for n in STUDENT_MODULES if getattr(self, n, None) is not None)

    def init_weights(self) -> None:
        """Initialise the student, then start the teacher as its exact copy."""
        super().init_weights()
        self.update_teacher(0.0)

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """teacher <- momentum * teacher + (1 - momentum) * student, parameter by parameter;
        buffers are copied (they are not learned)."""
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(
                f'SkySenseV2.update_teacher: `momentum` must be in [0, 1], got {momentum}'
            )
        self.momentum = float(momentum)
        for name in self.student_module_names:
            student, teacher = getattr(self, name), self.teacher[name]
            s_params = dict(student.named_parameters())
            for key, t in teacher.named_parameters():
                s = s_params[key].detach()
                if momentum == 0.0:
                    t.copy_(s)
                else:
                    t.mul_(momentum).add_(s.to(t.dtype), alpha=1.0 - momentum)
            s_buffers = dict(student.named_buffers())
            for key, t in teacher.named_buffers():
                if key in s_buffers:
                    t.copy_(s_buffers[key])

    def train(self, mode: bool = True) -> 'SkySenseV2':
        super().train(mode)
        # the teacher never drops paths or tokens: it gives the targets
        self.teacher.eval()
        return self

    # ------------------------------------------------------------- features
    def extract_feat(
        self, inputs: Tensor | dict[str, Tensor], data_samples=None, **kwargs
    ) -> tuple | dict:
        """The teacher backbone's features (what downstream tasks use), for a tensor (single
        modality given by the backbone config) or a modality dict."""
        return self.teacher['backbone'](inputs)

    def _batch_meta(self, inputs: dict, data_samples: Sequence) -> dict:
        """The batched annotations the losses need. ``SkySenseDataPreprocessor`` puts them in
        ``inputs`` (``valid_masks``, ``date_masks``, ``doy``, ``view_boxes``, ``view_geo_ops``,
        ``region_id``, ``osm_label``); missing ones are stacked from ``data_samples``."""
        device = inputs['global_views'][self.modalities[0]].device
        samples = list(data_samples or [])

        def get(field: str, *keys: str, required: bool = True) -> Tensor | None:
            value = inputs.get(field)
            for k in keys:
                value = value.get(k) if isinstance(value, dict) else None
            if value is not None:
                return torch.as_tensor(value).to(device)
            items = []
            for ds in samples:
                item = getattr(ds, field, None) if field in ds else None
                for k in keys:
                    item = item.get(k) if isinstance(item, dict) else None
                items.append(item)
            if not samples or any(i is None for i in items):
                if required:
                    raise KeyError(
                        f'SkySenseV2: the batch lacks {field}'
                        f'{"".join(f"[{k!r}]" for k in keys)} (neither in the '
                        'preprocessed inputs nor in every data sample)'
                    )
                return None
            return torch.stack([torch.as_tensor(i) for i in items]).to(device)

        meta = dict(
            valid=dict(), date_masks=dict(), doy=dict(), boxes=dict(), ops=dict(), osm=dict()
        )
        for group in GROUPS:
            meta['valid'][group] = {m: get('valid_masks', group, m).bool() for m in self.modalities}
            meta['boxes'][group] = get('view_boxes', group)
            meta['ops'][group] = get('view_geo_ops', group).long()
            if self.ita_loss is not None:
                meta['osm'][group] = get('osm_label', group, required=False)
        for m in self.modalities:
            if inputs['global_views'][m].dim() == 6:  # B x V x T x C x h x w: a time series
                meta['date_masks'][m] = get('date_masks', m).bool()
                meta['doy'][m] = get('doy', m).long()
        region = inputs.get('region_id')
        if region is None:
            region = [getattr(ds, 'region_id', -1) if 'region_id' in ds else -1 for ds in samples]
        meta['region_ids'] = torch.as_tensor(region, device=device).long().reshape(-1)
        if self.gcpl_loss is not None:
            ids = meta['region_ids']
            if (ids < 0).any():
                raise KeyError(
                    'SkySenseV2: GCPL needs a non-negative `region_id` for every '
                    f'sample, got {ids.tolist()}'
                )
            if (ids >= self.gcpl_loss.num_regions).any():
                raise ValueError(
                    f"SkySenseV2: `region_id` values {ids.tolist()} exceed GCPL's "
                    f'num_regions={self.gcpl_loss.num_regions}'
                )
        return meta

    def _encode(
        self, nets: dict[str, nn.Module], views: dict[str, Tensor], meta: dict, group: str
    ) -> dict:
        """Backbone + fusion on one view group; every output keeps ``B x V`` leading dims."""
        b, v = views[self.modalities[0]].shape[:2]
        x, date_masks, doy = {}, {}, {}
        for m in self.modalities:
            if m not in views:
                raise KeyError(f'SkySenseV2: inputs[{group!r}] lacks modality {m!r}')
            x[m] = views[m].flatten(0, 1)
            if m in meta['date_masks']:
                t = views[m].shape[2]
                date_masks[m] = meta['date_masks'][m][:, None].expand(b, v, t).flatten(0, 1)
                doy[m] = meta['doy'][m][:, None].expand(b, v, t).flatten(0, 1)
        outs = nets['backbone'](x, date_masks or None)
        dense, token_masks, maps, map_masks = {}, {}, {}, {}
        for m in self.modalities:
            feat = outs[m][-1]
            grid = tuple(feat.shape[-2:])
            valid = meta['valid'][group][m].flatten(0, 1)  # N x H x W or N x T x H x W
            tmask = _token_mask(valid, grid, self.token_valid_fraction)
            if m in date_masks:
                tmask = tmask & date_masks[m][:, :, None, None]
                # MGCL works per location: average the dates that hold data there
                wt = tmask.unsqueeze(2).to(feat.dtype)  # N x T x 1 x h x w
                maps[m] = (feat * wt).sum(1) / wt.sum(1).clamp_min(1.0)
                map_masks[m] = tmask.any(1)
            else:
                maps[m], map_masks[m] = feat, tmask
            dense[m], token_masks[m] = feat, tmask
        fused, fused_mask = nets['fusion'](dense, token_masks, doy)
        unflat = lambda t: t.unflatten(0, (b, v))  # noqa: E731
        return dict(
            maps={m: unflat(t) for m, t in maps.items()},
            map_masks={m: unflat(t) for m, t in map_masks.items()},
            fused=unflat(fused),
            fused_mask=unflat(fused_mask),
        )

    # ------------------------------------------------------------------ loss
    def loss(
        self, inputs: dict[str, dict[str, Tensor]], data_samples: Sequence, **kwargs
    ) -> dict[str, Tensor]:
        """Eq. 5: the weighted losses plus every term for the log."""
        if not isinstance(inputs, dict) or set(GROUPS) - set(inputs):
            raise KeyError(
                f'SkySenseV2: `inputs` must be a dict with {GROUPS}, got '
                f'{list(inputs) if isinstance(inputs, dict) else type(inputs)}'
            )
        meta = self._batch_meta(inputs, data_samples)
        student_nets = {n: getattr(self, n) for n in self.student_module_names}
        student, moe_aux, expert_load = {}, 0.0, {}
        for group in GROUPS:
            student[group] = self._encode(student_nets, inputs[group], meta, group)
            aux = self.backbone.aux_loss() if hasattr(self.backbone, 'aux_loss') else None
            if aux is not None:
                moe_aux = moe_aux + aux
            if group == 'global_views' and hasattr(self.backbone, 'expert_load'):
                expert_load = self.backbone.expert_load()
        with torch.no_grad():
            teacher = {g: self._encode(self.teacher, inputs[g], meta, g) for g in GROUPS}

        losses: dict[str, Tensor] = {}
        w = self.loss_weights
        mgcl = self.mgcl_loss(self._mgcl_terms(student, teacher, meta), self.teacher_temp)
        losses['loss_mgcl'] = w['mgcl'] * mgcl.pop('loss_mgcl')
        losses.update(mgcl)

        qsacl = self.qsacl_loss(*self._qsacl_logits(student, teacher), self.teacher_temp)
        losses['loss_qsacl'] = w['qsacl'] * qsacl.pop('loss_qsacl')
        losses.update(qsacl)

        if self.gcpl_loss is not None:
            s, t = student['global_views'], teacher['global_views']
            to_tokens = lambda f: f.permute(0, 1, 3, 4, 2).flatten(1, 3)  # noqa: E731
            gcpl = self.gcpl_loss(
                self.gcpl_proj(to_tokens(s['fused'])),
                self.teacher['gcpl_proj'](to_tokens(t['fused'])),
                s['fused_mask'].flatten(1),
                meta['region_ids'],
            )
            losses['loss_gcpl'] = w['gcpl'] * gcpl.pop('loss_gcpl')
            losses.update(gcpl)

        if self.ita_loss is not None:
            feats, labels = [], []
            for group in GROUPS:
                fused = student[group]['fused'].flatten(0, 1)  # N x D x h x w
                proj = self.ita_proj(fused.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
                osm = meta['osm'].get(group)
                hr = inputs[group][self.modalities[0]]
                if osm is None:  # no label raster: every pixel unlabelled
                    osm = torch.full(
                        (hr.shape[0] * hr.shape[1], *hr.shape[-2:]),
                        self.ita_loss.ignore_index,
                        dtype=torch.long,
                        device=hr.device,
                    )
                else:
                    osm = osm.flatten(0, 1)
                feats.append(proj)
                labels.append(osm)
            ita = {}
            for i, (f, lab) in enumerate(zip(feats, labels)):
                part = self.ita_loss(f, lab)
                for k, val in part.items():
                    ita[k] = ita.get(k, 0.0) + val / len(feats)
            losses['loss_ita'] = w['ita'] * ita.pop('loss_ita')
            losses.update(ita)

        if torch.is_tensor(moe_aux):
            losses['loss_moe'] = w['moe'] * moe_aux
            for layer, load in (expert_load or {}).items():
                load = torch.as_tensor(load).detach().float().reshape(-1)
                for e, frac in enumerate(load):
                    losses[f'expert_load.{layer}.e{e}'] = frac
        losses['teacher_temp'] = torch.tensor(float(self.teacher_temp))
        return losses

    # ---------------------------------------------------------------- MGCL
    def _mgcl_terms(self, student: dict, teacher: dict, meta: dict) -> dict:
        """Paired logits for MGCL at pixel, object and image level, per modality."""
        heads_s, heads_t = self.heads, self.teacher['heads']
        views = [
            (g, i) for g in GROUPS for i in range(student[g]['maps'][self.modalities[0]].shape[1])
        ]
        n_teacher = teacher['global_views']['maps'][self.modalities[0]].shape[1]
        terms, pairs_cache = {}, {}
        for m in self.modalities:
            t_maps = teacher['global_views']['maps'][m]  # B x Vg x C x h x w
            t_masks = teacher['global_views']['map_masks'][m]
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
            t_pooled = _masked_mean(t_tokens, t_mask_flat, dim=2)  # B x Vg x C
            for group, i in views:
                s_map = student[group]['maps'][m][:, i]
                s_grid = tuple(s_map.shape[-2:])
                s_tokens = s_map.flatten(2).transpose(1, 2)  # B x L_s x C
                s_mask = student[group]['map_masks'][m][:, i].flatten(1)
                s_pixel_logits = heads_s['pixel'](s_tokens)
                s_pooled = _masked_mean(s_tokens, s_mask, dim=1)
                for j in range(n_teacher):
                    if group == 'global_views' and i == j:
                        continue  # a view is not its own target
                    key = (group, i, j, s_grid, t_grid)  # modalities on one grid share it
                    if key not in pairs_cache:
                        pairs_cache[key] = token_correspondence(
                            meta['boxes'][group][:, i],
                            meta['ops'][group][:, i],
                            s_grid,
                            meta['boxes']['global_views'][:, j],
                            meta['ops']['global_views'][:, j],
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

    # --------------------------------------------------------------- QSACL
    def _qsacl_logits(self, student: dict, teacher: dict) -> tuple[Tensor, ...]:
        """H(z) of the student and H'(z) of the teacher for every view and query."""
        out = []
        for agg, head, enc in (
            (self.query_aggregation, self.heads['query'], student),
            (self.teacher['query_aggregation'], self.teacher['heads']['query'], teacher),
        ):
            for group in GROUPS:
                fused = enc[group]['fused']  # B x V x D x h x w
                b, v = fused.shape[:2]
                tokens = fused.flatten(3).transpose(2, 3).flatten(0, 1)  # N x L x D
                z = agg(tokens, enc[group]['fused_mask'].flatten(0, 1).flatten(1))
                out.append(head(z).unflatten(0, (b, v)))
        s_g, s_l, t_g, t_l = out
        return s_g, s_l, t_g, t_l
