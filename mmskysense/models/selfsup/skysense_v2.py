"""SkySense V2 pretraining (paper section 3.2, Figure 5, eq. 3-5): the teacher-student skeleton.

A student (unified backbone, multi-modal temporal fusion, objective heads) and a teacher, the
exponential moving average of the student, which takes no gradients and gives the targets.
The algorithm only encodes the views and routes them to the heads; each head owns its
projection, its pairing of student and teacher outputs, and its loss. The objective is eq. 5
extended as the paper describes in its text:

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
from mmskysense.structures import GROUPS, EncodedViews, PretrainBatch

from ..utils.ssl_monitors import encoded_views_monitors

#: the objective heads, in the order their losses are computed
HEADS = ('mgcl_head', 'qsacl_head', 'gcpl_head', 'ita_head')
#: heads whose projections the teacher mirrors (ITA trains the student alone)
TEACHER_HEADS = ('mgcl_head', 'qsacl_head', 'gcpl_head')


def _build(cfg: dict | nn.Module | None, name: str) -> nn.Module | None:
    if cfg is None or isinstance(cfg, nn.Module):
        return cfg
    if not isinstance(cfg, dict):
        raise TypeError(
            f'SkySenseV2: `{name}` must be a config dict or a module, got {type(cfg).__name__}'
        )
    return MODELS.build(cfg)


def _with_default(cfg, **defaults):
    return dict(defaults, **cfg) if isinstance(cfg, dict) else cfg


def _local(t: Tensor) -> Tensor:
    """This rank's shard of a sharded (DTensor) tensor; the tensor itself otherwise."""
    return t.to_local() if hasattr(t, 'to_local') else t


def token_mask(valid: Tensor, grid: tuple[int, int], min_fraction: float) -> Tensor:
    """``... x H x W`` pixel validity -> ``... x h x w``: a token holds data when at least
    ``min_fraction`` of its footprint does."""
    lead = valid.shape[:-2]
    frac = F.adaptive_avg_pool2d(valid.reshape(-1, 1, *valid.shape[-2:]).float(), grid)
    return (frac >= min_fraction).reshape(*lead, *grid)


@MODELS.register_module()
class SkySenseV2(BaseSelfSupervisor):
    """SkySense V2 teacher-student pretraining.

    Args:
        backbone: ``SkySenseV2Backbone`` config (dict in, dict out; its last output is used).
        fusion: ``MultiModalTemporalFusion`` config (F_fus); ``in_dims`` defaults to the
            backbone's last width.
        mgcl_head: ``MGCLHead`` config (or None); ``in_dims`` defaults to the backbone's last
            width.
        qsacl_head: ``QSACLHead`` config (or None); ``in_dims`` defaults to the fusion's width
            (so for the two heads below).
        gcpl_head: ``GCPLHead`` config or None.
        ita_head: ``ITAHead`` config or None.
        loss_weights: ``dict(mgcl=l1, ita=l2, qsacl=l3, gcpl=l4, moe=l5)`` (eq. 5). A head
            whose weight is 0 is not run at all (ablations cost only what they train).
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
        mgcl_head: dict | None,
        qsacl_head: dict | None,
        gcpl_head: dict | None = None,
        ita_head: dict | None = None,
        loss_weights: dict[str, float] | None = None,
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
        # widths are stated once, by the backbone's arch and the fusion: the inputs of the
        # fusion and the heads follow from them unless a config names them
        last = self.backbone.channels[self.backbone.out_indices[-1]]
        self.fusion = _build(_with_default(fusion, in_dims=last), 'fusion')
        self.mgcl_head = _build(_with_default(mgcl_head, in_dims=last), 'mgcl_head')
        fused = self.fusion.embed_dims
        self.qsacl_head = _build(_with_default(qsacl_head, in_dims=fused), 'qsacl_head')
        self.gcpl_head = _build(_with_default(gcpl_head, in_dims=fused), 'gcpl_head')
        self.ita_head = _build(_with_default(ita_head, in_dims=fused), 'ita_head')
        self.loss_weights = dict(mgcl=1.0, ita=1.0, qsacl=1.0, gcpl=1.0, moe=0.01)
        unknown = set(loss_weights or {}) - set(self.loss_weights)
        if unknown:
            raise ValueError(f'SkySenseV2: unknown `loss_weights` keys {sorted(unknown)}')
        self.loss_weights.update(loss_weights or {})
        if not any(self.active(h) for h in HEADS):
            raise ValueError(
                'SkySenseV2: no objective head is active (every head is None or weighted 0)'
            )
        # the losses' value checks read the data: they run on the host batch, before the move
        register = getattr(self.data_preprocessor, 'register_batch_check', None)
        for head in (self.gcpl_head, self.ita_head):
            if head is not None and register is not None and hasattr(head, 'check_batch'):
                head.loss_module.check_inputs = False
                register(head.check_batch)
        self.token_valid_fraction = token_valid_fraction
        self.teacher_temp = teacher_temp
        self.momentum = base_momentum

        # The teacher: copies of the student's networks, never trained by the optimiser.
        self.teacher = nn.ModuleDict(
            {name: copy.deepcopy(module) for name, module in self.mirrored_modules().items()}
        )
        self.teacher.requires_grad_(False)

    def active(self, head: str) -> bool:
        """Whether the objective head ``head`` (e.g. ``'mgcl_head'``) is built and weighted."""
        return getattr(self, head) is not None and self.loss_weights[head[: -len('_head')]] != 0

    # ----------------------------------------------------------------- teacher
    def mirrored_modules(self) -> dict[str, nn.Module]:
        """The student networks the teacher mirrors, by the teacher's names: the backbone, the
        fusion and the heads' projections (not their losses, which hold no student weights)."""
        out = dict(backbone=self.backbone, fusion=self.fusion)
        for name in TEACHER_HEADS:
            head = getattr(self, name)
            if head is not None:
                out[name] = head.projector
        return out

    def init_weights(self) -> None:
        """Initialise the student, then start the teacher as its exact copy."""
        super().init_weights()
        self.update_teacher(0.0)

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """teacher <- momentum * teacher + (1 - momentum) * student, parameter by parameter;
        buffers are copied (they are not learned).

        One ``torch._foreach_*`` call over every tensor (the tensor lists are found once,
        :meth:`_ema_pairs`). Sharded parameters (FSDP2 DTensors)
        are updated shard by shard: student and teacher are sharded alike, so each rank's local
        shards correspond element by element and no communication is needed.
        """
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(
                f'SkySenseV2.update_teacher: `momentum` must be in [0, 1], got {momentum}'
            )
        self.momentum = float(momentum)
        pairs = self._ema_pairs()
        t_params = [_local(t) for t in pairs['t_params']]
        s_params = [
            s if s.dtype == t.dtype else s.to(t.dtype)
            for s, t in zip(map(_local, pairs['s_params']), t_params, strict=True)
        ]
        t_bufs = [_local(t) for t in pairs['t_bufs']]
        s_bufs = [_local(s) for s in pairs['s_bufs']]
        if momentum == 0.0:
            torch._foreach_copy_(t_params, s_params)
        elif t_params:
            # t + (1 - m) (s - t) = m t + (1 - m) s: one pass over the tensors instead of two
            torch._foreach_lerp_(t_params, s_params, 1.0 - momentum)
        if t_bufs:
            torch._foreach_copy_(t_bufs, s_bufs)

    def _ema_pairs(self) -> dict[str, list[Tensor]]:
        """Teacher and student parameters (and buffers) of :meth:`update_teacher`, in
        matching order. Walking the modules by name costs more than the update itself on a
        small model, so the pairs are found once and reused while every slot still holds the
        same tensor (a slot re-assigned, e.g. by sharding or ``load_state_dict(assign=True)``,
        finds them again)."""
        cache = getattr(self, '_ema_cache', None)
        if cache is not None and all(
            owner._parameters.get(key) is t if kind == 'p' else owner._buffers.get(key) is t
            for kind, owner, key, t in cache['slots']
        ):
            return cache
        cache = dict(t_params=[], s_params=[], t_bufs=[], s_bufs=[], slots=[])

        def slots(module: nn.Module, kind: str):
            # the names and tensors of named_parameters / named_buffers (a shared tensor
            # once), with the module that holds each
            seen = set()
            for prefix, owner in module.named_modules():
                own = owner._parameters if kind == 'p' else owner._buffers
                for key, t in own.items():
                    if t is not None and id(t) not in seen:
                        seen.add(id(t))
                        yield f'{prefix}.{key}' if prefix else key, owner, key, t

        for name, student in self.mirrored_modules().items():
            teacher = self.teacher[name]
            for kind, t_list, s_list in (('p', 't_params', 's_params'), ('b', 't_bufs', 's_bufs')):
                s_named = {k: (o, key, t) for k, o, key, t in slots(student, kind)}
                for k, owner, key, t in slots(teacher, kind):
                    if k not in s_named:
                        if kind == 'b':  # a buffer the student lacks is not mirrored
                            continue
                        raise KeyError(f'SkySenseV2.update_teacher: the student has no {name}.{k}')
                    s_owner, s_key, s = s_named[k]
                    t_local, s_local = _local(t), _local(s)
                    if kind == 'p' and t_local.shape != s_local.shape:
                        raise RuntimeError(
                            f'SkySenseV2.update_teacher: teacher.{name}.{k} has a local shape '
                            f'{tuple(t_local.shape)}, the student {tuple(s_local.shape)}: shard '
                            'the student and the teacher alike'
                        )
                    cache[t_list].append(t)
                    cache[s_list].append(s)
                    cache['slots'] += [(kind, owner, key, t), (kind, s_owner, s_key, s)]
        self._ema_cache = cache
        return cache

    def train(self, mode: bool = True) -> 'SkySenseV2':
        super().train(mode)
        # the teacher never drops paths or tokens: it gives the targets
        self.teacher.eval()
        return self

    # ------------------------------------------------------------- features
    def extract_feat(
        self, inputs: dict[str, Tensor], data_samples=None, **kwargs
    ) -> dict[str, tuple[Tensor, ...]]:
        """The teacher backbone's features (what downstream tasks use) of a modality dict."""
        return self.teacher['backbone'](inputs)

    def encode(self, nets: dict[str, nn.Module], batch: PretrainBatch, group: str) -> EncodedViews:
        """Backbone + fusion on one view group; every output keeps ``B x V`` leading dims."""
        return self.encode_groups(nets, batch, (group,))[group]

    def encode_groups(
        self, nets: dict[str, nn.Module], batch: PretrainBatch, groups: Sequence[str] = GROUPS
    ) -> dict[str, EncodedViews]:
        """:meth:`encode` of each view group, the groups through the backbone in one pass
        where it can take several (``forward_groups``: one run of each global block and MoE
        for every group's images, instead of one per group)."""
        inputs, shapes, date_masks, doys = [], [], [], []
        for group in groups:
            views = getattr(batch, group)
            b, v = views.view_boxes.shape[:2]
            x, dm, doy = {}, {}, {}
            for m in views.images:
                x[m] = views.images[m].flatten(0, 1)
                if m in batch.date_masks:
                    t = views.images[m].shape[2]
                    dm[m] = batch.date_masks[m][:, None].expand(b, v, t).flatten(0, 1)
                    doy[m] = batch.doy[m][:, None].expand(b, v, t).flatten(0, 1)
            inputs.append((x, dm or None))
            shapes.append((b, v))
            date_masks.append(dm)
            doys.append(doy)
        backbone = nets['backbone']
        if hasattr(backbone, 'forward_groups'):
            outs = backbone.forward_groups(inputs)
        else:
            outs = [backbone(x, dm) for x, dm in inputs]
        return {
            group: self._encoded(nets, getattr(batch, group), out, *rest)
            for group, out, *rest in zip(groups, outs, shapes, date_masks, doys, strict=True)
        }

    def _encoded(
        self,
        nets: dict[str, nn.Module],
        views,
        outs: dict[str, tuple[Tensor, ...]],
        shape: tuple[int, int],
        date_masks: dict[str, Tensor],
        doy: dict[str, Tensor],
    ) -> EncodedViews:
        """One group's backbone maps -> token masks, per-location maps and the fusion."""
        b, v = shape
        dense, token_masks, maps, map_masks = {}, {}, {}, {}
        for m in views.images:
            feat = outs[m][-1]
            grid = tuple(feat.shape[-2:])
            valid = views.valid_masks[m].flatten(0, 1)  # N x H x W or N x T x H x W
            tmask = token_mask(valid, grid, self.token_valid_fraction)
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
        return EncodedViews(
            maps={m: unflat(t) for m, t in maps.items()},
            map_masks={m: unflat(t) for m, t in map_masks.items()},
            fused=unflat(fused),
            fused_mask=unflat(fused_mask),
        )

    # ------------------------------------------------------------------ loss
    def loss(
        self, inputs: PretrainBatch, data_samples: Sequence | None = None, **kwargs
    ) -> dict[str, Tensor]:
        """Eq. 5: the weighted losses plus every term for the log, and the monitors
        (``models/utils/ssl_monitors.py``): each teacher-student term's target entropy, KL and
        centre norm, the teacher's pooled-feature spread and effective rank per modality.

        Args:
            inputs: the ``PretrainBatch`` of ``SkySenseDataPreprocessor``.
            data_samples: not read (everything the losses need is in the batch; kept for
                mmengine's forward signature).
        """
        if not isinstance(inputs, PretrainBatch):
            raise TypeError(
                f'SkySenseV2.loss: `inputs` must be the PretrainBatch that '
                f'SkySenseDataPreprocessor makes, got {type(inputs).__name__}'
            )
        batch = inputs
        student_nets = dict(backbone=self.backbone, fusion=self.fusion)
        # the balance losses of every group's forward; the expert load of the global views'
        student, moe_aux, expert_load = {}, 0.0, {}
        if hasattr(self.backbone, 'forward_groups'):  # every group in one pass
            student = self.encode_groups(student_nets, batch)
            moe_aux = self.backbone.aux_loss()
            expert_load = self.backbone.expert_load(group=GROUPS.index('global_views'))
        else:
            for group in GROUPS:
                student[group] = self.encode(student_nets, batch, group)
                aux = self.backbone.aux_loss() if hasattr(self.backbone, 'aux_loss') else None
                if aux is not None:
                    moe_aux = moe_aux + aux
                if group == 'global_views' and hasattr(self.backbone, 'expert_load'):
                    expert_load = self.backbone.expert_load()
        with torch.no_grad():
            teacher = self.encode_groups(self.teacher, batch)

        losses: dict[str, Tensor] = {}
        w = self.loss_weights

        def add(name: str, terms: dict[str, Tensor]) -> None:
            losses[f'loss_{name}'] = w[name] * terms.pop(f'loss_{name}')
            losses.update(terms)

        if self.active('mgcl_head'):
            add(
                'mgcl',
                self.mgcl_head.loss(
                    student, teacher, batch, self.teacher['mgcl_head'], self.teacher_temp
                ),
            )
        if self.active('qsacl_head'):
            add(
                'qsacl',
                self.qsacl_head.loss(
                    student, teacher, self.teacher['qsacl_head'], self.teacher_temp
                ),
            )
        if self.active('gcpl_head'):
            add('gcpl', self.gcpl_head.loss(student, teacher, batch, self.teacher['gcpl_head']))
        if self.active('ita_head'):
            add('ita', self.ita_head.loss(student, batch))
        if torch.is_tensor(moe_aux):
            losses['loss_moe'] = w['moe'] * moe_aux
            for layer, load in (expert_load or {}).items():
                load = torch.as_tensor(load).detach().float().reshape(-1)
                for e, frac in enumerate(load):
                    losses[f'expert_load.{layer}.e{e}'] = frac
        losses['teacher_temp'] = torch.tensor(float(self.teacher_temp))
        # collapse monitors of the features the targets come from (the teacher's)
        losses.update(encoded_views_monitors('teacher_feat', teacher))
        return losses
