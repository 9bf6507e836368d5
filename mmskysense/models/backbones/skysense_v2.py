"""SkySense V2 unified transformer backbone (section 3.1, Figure 3).

One set of transformer weights serves every modality; only the tokenizers (and the prompt tokens)
are per modality:

    tokenizer_i (4x4 patches) -> stage 1: Swin V2 blocks
    -> APM -> stage 2: Swin V2 blocks
    -> APM -> [P_i^3, .] stage 3: global transformer blocks -> drop P_i^3        (eq. 1)
    -> APM -> [P_i^4, .] stage 4: global transformer blocks -> drop P_i^4        (eq. 1)

with the FFN of the last L blocks replaced by a mixture of experts (eq. 2). APM halves the
resolution of ``kind='hr'`` modalities and keeps that of ``kind='ms'`` ones (MS, SAR).
"""

import copy
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmskysense.models.layers import (
    AdaptivePatchMerging,
    GlobalTransformerBlock,
    MixtureOfExperts,
    ModalityPromptTokens,
    ModalityTokenizer,
    SwinV2Block,
)
from mmskysense.models.layers.feed_forward import FeedForward
from mmskysense.models.utils.checkpoint_loader import StateDict
from mmskysense.models.utils.pretrained_init import PretrainedInitMixin
from mmskysense.registry import MODELS
from mmskysense.structures.modalities import backbone_modalities, modality, modality_names

from .checkpoint_rules import NUM_WINDOW_STAGES, adapt_backbone_keys


class SkySenseV2Stage(nn.Module):
    """One stage: APM (stages 2-4), prompt tokens (prompt stages), then the blocks."""

    def __init__(
        self,
        downsample: AdaptivePatchMerging | None,
        prompts: ModalityPromptTokens | None,
        blocks: list[nn.Module],
        windowed: bool,
    ) -> None:
        super().__init__()
        self.downsample = downsample
        self.prompts = prompts
        self.blocks = nn.ModuleList(blocks)
        self.windowed = windowed

    def forward(
        self, x: torch.Tensor, hw_shape: tuple[int, int], kind: str, modality: str
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        if self.downsample is not None:
            x, hw_shape = self.downsample(x, hw_shape, kind)
        if self.prompts is not None:
            x = self.prompts.prepend(x, modality)
        for block in self.blocks:
            x = block(x, hw_shape) if self.windowed else block(x)
        if self.prompts is not None:
            x = self.prompts.drop(x)
        return x, hw_shape

    def forward_many(
        self, items: list[tuple[torch.Tensor, tuple[int, int], str, str]]
    ) -> list[tuple[torch.Tensor, tuple[int, int]]]:
        """:meth:`forward` of each ``(x, hw_shape, kind, modality)``, block by block, every
        block taking the sequences of all of them in one call (a global block: one attention
        per length, one FFN / MoE product for all; a windowed block: one attention per window
        size, one FFN for all). Without prompt tokens (which are per modality) and MoE (whose
        statistics are per input), the inputs that share a grid and a kind are first stacked
        into one batch: up to there every layer works on each image alone."""
        merge = self.prompts is None and not any(
            isinstance(getattr(b, 'ffn', None), MixtureOfExperts) for b in self.blocks
        )
        groups: list[list[int]] = [[i] for i in range(len(items))]
        if merge:
            by_key: dict[tuple, list[int]] = {}
            for i, (_, hw_shape, kind, _) in enumerate(items):
                by_key.setdefault((tuple(hw_shape), kind), []).append(i)
            groups = list(by_key.values())
        xs, shapes = [], []
        for idx in groups:
            x = torch.cat([items[i][0] for i in idx]) if len(idx) > 1 else items[idx[0]][0]
            _, hw_shape, kind, name = items[idx[0]]
            if self.downsample is not None:
                x, hw_shape = self.downsample(x, hw_shape, kind)
            if self.prompts is not None:
                x = self.prompts.prepend(x, name)
            xs.append(x)
            shapes.append(hw_shape)
        for block in self.blocks:
            xs = block(xs, shapes) if self.windowed else block(xs)
        if self.prompts is not None:
            xs = [self.prompts.drop(x) for x in xs]
        outs: list = [None] * len(items)
        for idx, x, hw_shape in zip(groups, xs, shapes, strict=True):
            parts = x.split([items[i][0].shape[0] for i in idx]) if len(idx) > 1 else (x,)
            for i, part in zip(idx, parts, strict=True):
                outs[i] = (part, hw_shape)
        return outs


@MODELS.register_module()
class SkySenseV2Backbone(PretrainedInitMixin, BaseModule):
    """SkySense V2 unified multi-modal backbone (section 3.1): a dict of modalities in, a dict
    of per-stage maps out. For one tensor in and a tuple out (mmseg, mmdet, mmpretrain) use
    :class:`SkySenseV2SingleModal`, which has the same parameters and state-dict keys.

    Args:
        arch: a key of :attr:`arch_zoo` or a dict with the keys of :attr:`arch_keys`.
        modalities: ``name -> dict(in_channels=int, kind='hr'|'ms')``; default
            ``hr`` (3, hr), ``s2`` (10, ms), ``s1`` (2, ms). A tokenizer and prompt tokens are
            built for each.
        out_indices: stages whose (normed) maps are returned.
        frozen_stages: stages ``0..frozen_stages`` (and the tokenizers) are frozen; -1: none.
        drop_path_rate: stochastic depth, linear over all blocks.
        use_moe: False gives the same model with dense FFNs everywhere.
        with_cp: activation checkpointing per block.
        pretrained_window_size: window of pre-training for the Swin V2 position bias (0: same
            as ``window_size``).
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
    """

    arch_keys = (
        'embed_dims',
        'depths',
        'head_dim',
        'window_size',
        'mlp_ratio',
        'num_prompts',
        'prompt_stages',
        'num_experts',
        'moe_top_k',
        'moe_blocks',
    )
    # huge, large and base differ only in width: the paper's depth, window, prompts and MoE
    _paper_layout = dict(
        depths=[2, 2, 18, 2],
        head_dim=32,
        window_size=8,
        mlp_ratio=4.0,
        num_prompts=4,
        prompt_stages=(2, 3),
        num_experts=8,
        moe_top_k=1,
        moe_blocks=6,
    )
    arch_zoo = {
        # The paper's model (section 3.1, 4.1): 661 M dense, 1.99 B with 8 experts.
        'huge': dict(_paper_layout, embed_dims=352),
        'large': dict(_paper_layout, embed_dims=192),
        'base': dict(_paper_layout, embed_dims=128),
        'small': dict(
            embed_dims=96,
            depths=[2, 2, 6, 2],
            head_dim=32,
            window_size=8,
            mlp_ratio=4.0,
            num_prompts=4,
            prompt_stages=(2, 3),
            num_experts=4,
            moe_top_k=1,
            moe_blocks=2,
        ),
        # For tests: a few hundred k parameters, fast on CPU.
        'tiny': dict(
            embed_dims=32,
            depths=[1, 1, 2, 2],
            head_dim=16,
            window_size=4,
            mlp_ratio=4.0,
            num_prompts=2,
            prompt_stages=(2, 3),
            num_experts=4,
            moe_top_k=1,
            moe_blocks=2,
        ),
    }

    def __init__(
        self,
        arch: str | dict = 'huge',
        modalities: dict[str, dict] | None = None,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        frozen_stages: int = -1,
        drop_path_rate: float = 0.1,
        use_moe: bool = True,
        with_cp: bool = False,
        pretrained_window_size: int = 0,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self._parse_arch(arch)
        s = self.arch_settings
        self.embed_dims = s['embed_dims']
        self.depths = list(s['depths'])
        self.num_stages = len(self.depths)
        self.channels = [self.embed_dims * 2**i for i in range(self.num_stages)]
        self.modalities = self._parse_modalities(modalities)
        built = list(self.modalities)

        out_indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        for i in out_indices:
            if not 0 <= i < self.num_stages:
                raise ValueError(
                    f'SkySenseV2Backbone: out_indices must be in '
                    f'[0, {self.num_stages - 1}], got {out_indices}'
                )
        self.out_indices = tuple(sorted(set(out_indices)))
        self.frozen_stages = frozen_stages
        self.use_moe = bool(use_moe) and s['num_experts'] > 1 and s['moe_blocks'] > 0
        self.with_cp = with_cp
        # record slices of each group of the last forward_groups (expert_load(group=...))
        self._group_calls: list[slice] = []

        self.tokenizers = nn.ModuleDict(
            {
                name: ModalityTokenizer(
                    self.modalities[name]['in_channels'], self.embed_dims, patch_size=4, name=name
                )
                for name in built
            }
        )

        total = sum(self.depths)
        # Plain Python so the model also builds under torch.device('meta').
        dpr = [drop_path_rate * k / max(total - 1, 1) for k in range(total)]
        first_moe = total - s['moe_blocks'] if self.use_moe else total
        self.stages = nn.ModuleList()
        block_id = 0
        for i, depth in enumerate(self.depths):
            c = self.channels[i]
            if c % s['head_dim']:
                raise ValueError(
                    f'SkySenseV2Backbone: stage {i} width {c} is not divisible by '
                    f'head_dim={s["head_dim"]}'
                )
            heads = c // s['head_dim']
            hidden = int(c * s['mlp_ratio'])
            blocks = []
            for j in range(depth):
                ffn = (
                    MixtureOfExperts(c, hidden, s['num_experts'], s['moe_top_k'])
                    if block_id >= first_moe
                    else FeedForward(c, hidden)
                )
                if i < NUM_WINDOW_STAGES:
                    blocks.append(
                        SwinV2Block(
                            c,
                            heads,
                            s['window_size'],
                            shift=j % 2 == 1,
                            mlp_ratio=s['mlp_ratio'],
                            drop_path=dpr[block_id],
                            pretrained_window_size=pretrained_window_size,
                            ffn=ffn,
                            with_cp=with_cp,
                        )
                    )
                else:
                    blocks.append(
                        GlobalTransformerBlock(
                            c,
                            heads,
                            s['mlp_ratio'],
                            drop_path=dpr[block_id],
                            ffn=ffn,
                            with_cp=with_cp,
                        )
                    )
                block_id += 1
            downsample = AdaptivePatchMerging(self.channels[i - 1], c) if i > 0 else None
            prompts = (
                ModalityPromptTokens(built, s['num_prompts'], c)
                if i in s['prompt_stages'] and s['num_prompts'] > 0
                else None
            )
            self.stages.append(
                SkySenseV2Stage(downsample, prompts, blocks, windowed=i < NUM_WINDOW_STAGES)
            )
        for i in self.out_indices:
            self.add_module(f'norm{i}', nn.LayerNorm(self.channels[i]))

        self._reset_parameters()
        self.pretrained_report: dict | None = None
        self._freeze_stages()

    @property
    def out_channels(self) -> tuple[int, ...]:
        """Channels of the returned maps, one per ``out_indices`` entry."""
        return tuple(self.channels[i] for i in self.out_indices)

    # construction helpers ----------------------------------------------------------------------
    @classmethod
    def _parse_arch(cls, arch: str | dict) -> dict:
        if isinstance(arch, str):
            if arch.lower() not in cls.arch_zoo:
                raise ValueError(
                    f'SkySenseV2Backbone: arch={arch!r} is not a preset; choose '
                    f'one of {sorted(cls.arch_zoo)} or pass a dict'
                )
            return copy.deepcopy(cls.arch_zoo[arch.lower()])
        if not isinstance(arch, Mapping):
            raise TypeError(f'SkySenseV2Backbone: arch must be a str or a dict, got {type(arch)}')
        missing = [k for k in cls.arch_keys if k not in arch]
        unknown = [k for k in arch if k not in cls.arch_keys]
        if missing or unknown:
            raise ValueError(
                f'SkySenseV2Backbone: custom arch dict must have exactly the keys '
                f'{list(cls.arch_keys)}; missing {missing}, unknown {unknown}'
            )
        arch = copy.deepcopy(dict(arch))
        if len(arch['depths']) != 4:
            raise ValueError(
                f"SkySenseV2Backbone: arch['depths'] must have 4 entries, got {arch['depths']}"
            )
        if arch['moe_blocks'] > sum(arch['depths']):
            raise ValueError(
                f"SkySenseV2Backbone: arch['moe_blocks']={arch['moe_blocks']} "
                f'exceeds the number of blocks {sum(arch["depths"])}'
            )
        return arch

    @staticmethod
    def _parse_modalities(modalities: dict[str, dict] | None) -> 'OrderedDict[str, dict]':
        if modalities is None:  # every modality of the table
            return OrderedDict(backbone_modalities())
        if not isinstance(modalities, Mapping) or not modalities:
            raise TypeError(
                'SkySenseV2Backbone: modalities must be a non-empty dict '
                'name -> dict(in_channels=int, kind="hr"|"ms")'
            )
        parsed = OrderedDict()
        for name, spec in modalities.items():
            if isinstance(spec, int):
                spec = dict(in_channels=spec)
            if not isinstance(spec, Mapping) or 'in_channels' not in spec:
                raise ValueError(
                    f'SkySenseV2Backbone: modalities[{name!r}] must be a dict with '
                    f'in_channels (and kind), got {spec!r}'
                )
            # a known modality's kind comes from the table; an unknown one is MS-like
            kind = spec.get('kind', modality(name).kind if name in modality_names() else 'ms')
            if kind not in ('hr', 'ms'):
                raise ValueError(
                    f"SkySenseV2Backbone: modalities[{name!r}]['kind'] must be "
                    f"'hr' or 'ms', got {kind!r}"
                )
            in_channels = int(spec['in_channels'])
            if in_channels <= 0:
                raise ValueError(
                    f"SkySenseV2Backbone: modalities[{name!r}]['in_channels'] must "
                    f'be positive, got {in_channels}'
                )
            parsed[name] = dict(in_channels=in_channels, kind=kind)
        return parsed

    def _reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # forward -----------------------------------------------------------------------------------
    def _moe_layers(self) -> 'OrderedDict[str, MixtureOfExperts]':
        return OrderedDict(
            (name[: -len('.ffn')], m)
            for name, m in self.named_modules()
            if isinstance(m, MixtureOfExperts)
        )

    def _forward_images(self, x: torch.Tensor, name: str) -> tuple[torch.Tensor, ...]:
        return self._forward_images_many({name: (name, x)})[name]

    def _forward_images_many(self, inputs: dict) -> dict:
        """Per-stage maps of several ``N x C x H x W`` image batches, ``key -> (modality,
        images)``, taken stage by stage together (``SkySenseV2Stage.forward_many``)."""
        if not inputs:
            return {}
        state, names = {}, {}
        for key, (name, x) in inputs.items():
            names[key] = name
            state[key] = self.tokenizers[name](x)
        outs = {key: [] for key in inputs}
        for i, stage in enumerate(self.stages):
            items = [
                (x, hw, self.modalities[names[k]]['kind'], names[k]) for k, (x, hw) in state.items()
            ]
            state = dict(zip(state, stage.forward_many(items), strict=True))
            if i in self.out_indices:
                for key, (x, hw) in state.items():
                    out = getattr(self, f'norm{i}')(x)
                    b = x.shape[0]
                    outs[key].append(out.view(b, hw[0], hw[1], -1).permute(0, 3, 1, 2).contiguous())
        return {key: tuple(o) for key, o in outs.items()}

    def _output_shapes(self, name: str, h: int, w: int) -> list[tuple[int, int, int]]:
        h, w = -(-h // 4), -(-w // 4)
        shapes = []
        for i in range(self.num_stages):
            if i > 0 and self.modalities[name]['kind'] == 'hr':
                h, w = -(-h // 2), -(-w // 2)
            if i in self.out_indices:
                shapes.append((self.channels[i], h, w))
        return shapes

    def _plan_modality(
        self, x: torch.Tensor, name: str, date_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, Callable[[tuple | None], tuple[torch.Tensor, ...]]]:
        """The ``N x C x H x W`` images of one modality to run through the network (None:
        nothing to run), and how their maps become the modality's outputs."""
        if name not in self.tokenizers:
            raise KeyError(
                f'{type(self).__name__}: unknown modality {name!r}; this backbone '
                f'has tokenizers for {list(self.tokenizers)}'
            )
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f'{type(self).__name__}: input of modality {name!r} must be a Tensor, got {type(x)}'
            )
        expected_c = self.modalities[name]['in_channels']
        if x.dim() == 4:
            if date_mask is not None:
                raise ValueError(
                    f'{type(self).__name__}: date_mask given for modality {name!r} '
                    f'but its input is not a time series (shape {tuple(x.shape)})'
                )
            return x, lambda outs: outs
        if x.dim() != 5:
            raise ValueError(
                f'{type(self).__name__}: input of modality {name!r} must be '
                f'B x C x H x W or B x T x C x H x W, got shape {tuple(x.shape)}'
            )
        b, t, c, h, w = x.shape
        if c != expected_c:
            raise ValueError(
                f'{type(self).__name__}: modality {name!r} expects {expected_c} '
                f'channels (modalities[{name!r}].in_channels) at dim 2 of its '
                f'B x T x C x H x W input, got shape {tuple(x.shape)}'
            )
        flat = x.reshape(b * t, c, h, w)
        unflat = lambda outs: tuple(o.view(b, t, *o.shape[1:]) for o in outs)  # noqa: E731
        if date_mask is None:
            return flat, unflat
        if date_mask.shape != (b, t):
            raise ValueError(
                f'{type(self).__name__}: date_mask of modality {name!r} must have '
                f'shape (B, T) = {(b, t)}, got {tuple(date_mask.shape)}'
            )
        valid = date_mask.reshape(-1).to(device=x.device, dtype=torch.bool)
        if torch.compiler.is_compiling():
            # Which dates are real is known only from the data: a compiled graph computes every
            # date and zeroes the padded ones (the same features; their tokens do enter the MoE
            # statistics of the forward).
            keep = valid.view(-1, *([1] * (x.dim() - 2)))
            return flat, lambda outs: unflat(o * keep.to(o.dtype) for o in outs)
        # Padded dates are not computed; their features are zeros.
        idx = valid.nonzero(as_tuple=True)[0]
        if idx.numel() == b * t:
            return flat, unflat

        def scatter(feats: tuple | None) -> tuple[torch.Tensor, ...]:
            if feats is None:  # no date anywhere
                feats = tuple(flat.new_zeros(0, *s) for s in self._output_shapes(name, h, w))
            return unflat(f.new_zeros((b * t,) + f.shape[1:]).index_copy(0, idx, f) for f in feats)

        return (flat.index_select(0, idx) if idx.numel() > 0 else None), scatter

    def forward(
        self, inputs: dict[str, torch.Tensor], date_masks: dict[str, torch.Tensor] | None = None
    ) -> dict[str, tuple[torch.Tensor, ...]]:
        """Per-stage feature maps of every modality in ``inputs``.

        Args:
            inputs: name -> ``B x C x H x W`` image or ``B x T x C x H x W`` series.
            date_masks: name -> ``B x T`` bool (True = real date) for series; padded dates are
                not computed and give zero features.

        Returns:
            name -> tuple of ``B x C_i x h_i x w_i`` (or ``B x T x C_i x h_i x w_i``) maps, one
            per ``out_indices`` entry.
        """
        return self.forward_groups([(inputs, date_masks)])[0]

    def forward_groups(
        self, groups: Sequence[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]]
    ) -> list[dict[str, tuple[torch.Tensor, ...]]]:
        """:meth:`forward` of each ``(inputs, date_masks)`` of ``groups`` (e.g. the global and
        the local views of a batch), in one pass: every image batch of every group goes through
        the stages together, so a global block and its MoE run once for all of them. The MoE
        statistics cover every group (:meth:`aux_loss`); ``expert_load(group=i)`` gives those
        of group ``i`` alone."""
        for moe in self._moe_layers().values():
            moe.reset_stats()
        plans, run = [], {}
        self._group_calls = []
        for g, (inputs, date_masks) in enumerate(groups):
            masks = self._check_inputs(inputs, date_masks)
            plan = {
                name: self._plan_modality(x, name, masks.get(name)) for name, x in inputs.items()
            }
            start = len(run)
            run.update({(g, n): (n, x) for n, (x, _) in plan.items() if x is not None})
            # each MoE records one call per image batch run, in this order
            self._group_calls.append(slice(start, len(run)))
            plans.append(plan)
        feats = self._forward_images_many(run)
        return [
            {name: finish(feats.get((g, name))) for name, (_, finish) in plan.items()}
            for g, plan in enumerate(plans)
        ]

    def _check_inputs(
        self, inputs: dict[str, torch.Tensor], date_masks: dict[str, torch.Tensor] | None
    ) -> dict[str, torch.Tensor]:
        if not isinstance(inputs, Mapping):
            raise TypeError(
                f'{type(self).__name__}: takes a dict name -> Tensor, got '
                f'{type(inputs).__name__}; SkySenseV2SingleModal takes one tensor'
            )
        if date_masks is not None and not isinstance(date_masks, Mapping):
            raise TypeError(
                f'{type(self).__name__}: date_masks must be a dict name -> B x T '
                f'bool tensor, got {type(date_masks).__name__}'
            )
        masks = date_masks or {}
        unknown = [k for k in masks if k not in inputs]
        if unknown:
            raise KeyError(
                f'{type(self).__name__}: date_masks has keys {unknown} that are not '
                f'in the inputs {list(inputs)}'
            )
        return masks

    # MoE statistics ----------------------------------------------------------------------------
    def aux_loss(self) -> torch.Tensor:
        """Summed MoE load-balancing loss of the last forward (0 without MoE)."""
        layers = list(self._moe_layers().values())
        if not layers:
            return (
                self.norm0.weight.new_zeros(())
                if hasattr(self, 'norm0')
                else next(self.parameters()).new_zeros(())
            )
        return torch.stack([m.aux_loss() for m in layers]).sum()

    def expert_load(self, group: int | None = None) -> dict[str, torch.Tensor]:
        """Per MoE layer (``stages.i.blocks.j``), the fraction of tokens per expert of the last
        forward (of its group ``group`` alone after :meth:`forward_groups`)."""
        calls = None if group is None else self._group_calls[group]
        return {name: m.expert_load(calls) for name, m in self._moe_layers().items()}

    # downstream options ------------------------------------------------------------------------
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.with_cp = enable
        for stage in self.stages:
            for block in stage.blocks:
                block.with_cp = enable

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters that should not be decayed: prompt tokens, the Swin V2
        attention temperature and continuous position bias MLP."""
        return {
            name
            for name, _ in self.named_parameters()
            if 'prompts.tokens' in name or 'logit_scale' in name or 'cpb_mlp' in name
        }

    def get_layer_depth(self, param_name: str, prefix: str = '') -> tuple[int, int]:
        """Layer id for layer-wise learning-rate decay: tokenizers 0, block ``k`` (global
        index) ``k + 1``, APM and prompts with the first block of their stage, output norms with
        the last block; parameters outside the backbone (neck, head) get the top ids."""
        num_layers = sum(self.depths) + 2
        if not param_name.startswith(prefix):
            return (num_layers - 2 if param_name.startswith('neck') else num_layers - 1, num_layers)
        name = param_name[len(prefix) :]
        if name.startswith('tokenizers'):
            return 0, num_layers
        if name.startswith('stages.'):
            parts = name.split('.')
            stage = int(parts[1])
            if parts[2] == 'blocks':
                return sum(self.depths[:stage]) + int(parts[3]) + 1, num_layers
            return sum(self.depths[:stage]) + 1, num_layers
        return num_layers - 2, num_layers

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen: list[nn.Module] = [self.tokenizers]
        frozen += [self.stages[i] for i in range(min(self.frozen_stages + 1, self.num_stages))]
        frozen += [getattr(self, f'norm{i}') for i in self.out_indices if i <= self.frozen_stages]
        for m in frozen:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> 'SkySenseV2Backbone':
        super().train(mode)
        self._freeze_stages()
        return self

    # checkpoints -------------------------------------------------------------------------------
    # load_pretrained / init_weights(init_cfg=dict(type='Pretrained', ...)): PretrainedInitMixin,
    # non-strict (a fine-tuned model keeps its own head, a single-modal one sets aside the other
    # modalities); the report is kept in self.pretrained_report
    pretrained_component = 'backbone'

    def adapt_checkpoint_keys(self, state: StateDict, dropped: list[str]) -> StateDict:
        """The backbone's key rules (rebuilt buffers, SkySense V1 keys, modalities not built,
        MoE layouts: :func:`~.checkpoint_rules.adapt_backbone_keys`) on its own keys."""
        return adapt_backbone_keys(state, self, dropped)
