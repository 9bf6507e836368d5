"""Checkpoint adaptation for the SkySense V2 backbone, in one function (timm's
``checkpoint_filter_fn`` pattern), and the loader that every entry point uses.

:func:`checkpoint_filter_fn` turns whatever a user has (an mmengine pretraining checkpoint, saved
under DDP or FSDP, an extracted teacher, a fine-tuned segmentor, a SkySense V1 / mmpretrain
``SwinTransformerV2`` checkpoint, a dense checkpoint for a MoE model) into a state dict of the
module it will be loaded into. :func:`load_weights` filters, checks shapes, loads and reports.
The rules and their order are listed in docs/interfaces.md ("Checkpoints").
"""

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
from mmengine.logging import MMLogger

from mmskysense.models.layers import MixtureOfExperts
from mmskysense.models.layers.mixture_of_experts import stack_expert_weights

from .skysense_v2 import NUM_WINDOW_STAGES, SkySenseV2Backbone

#: where the pretraining algorithm keeps each network's backbone (``SkySenseV2``)
PRETRAINING_PREFIXES = dict(teacher='teacher.backbone.', student='backbone.')
#: the pretrained components a downstream model loads, and where each network keeps them:
#: the backbone, and the multi-modal temporal fusion F_fus (``SkySenseV2.fusion``)
COMPONENT_PREFIXES = dict(
    backbone=PRETRAINING_PREFIXES,
    fusion=dict(teacher='teacher.fusion.', student='fusion.'),
)
#: fields that hold the state dict in a checkpoint dict: mmengine / mmcls / DeepSpeed
WRAPPER_FIELDS = ('state_dict', 'model', 'module')
#: leading key segments added by DDP / DataParallel / DeepSpeed, and by ``torch.compile``
_LEADING_WRAPPERS = ('module.', '_orig_mod.')
#: inner key segments added by FSDP1 and by activation-checkpoint wrappers
_INNER_WRAPPERS = ('_fsdp_wrapped_module.', '_checkpoint_wrapped_module.')
#: buffers that the blocks rebuild from the configuration, never loaded
REBUILT_BUFFERS = ('relative_position_index', 'relative_coords_table')

StateDict = dict[str, torch.Tensor]


def convert_mmpretrain_swinv2(
    state_dict: Mapping[str, torch.Tensor],
    hr_name: str = 'hr',
    num_window_stages: int = NUM_WINDOW_STAGES,
) -> tuple[StateDict, list[str]]:
    """Map mmpretrain ``SwinTransformerV2`` keys (SkySense V1's HR backbone, without the
    ``backbone.`` prefix) to ours.

    Stages ``< num_window_stages`` map one to one. In the global stages the window-only tensors
    (``logit_scale``, ``cpb_mlp``, the extra ``norm3``) have no counterpart and are dropped;
    ``q_bias``/``v_bias`` become the qkv bias ``[q_bias, 0, v_bias]``. Buffers that are rebuilt
    from the configuration (relative position index and coordinate table) are dropped.

    Returns:
        the converted state dict and the source keys that were dropped.
    """
    out: StateDict = OrderedDict()
    dropped: list[str] = []
    pending_bias: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        if key.split('.')[-1] in REBUILT_BUFFERS or key == 'absolute_pos_embed':
            dropped.append(key)
            continue
        m = re.match(r'patch_embed\.(projection|norm)\.(weight|bias)$', key)
        if m:
            sub = 'proj' if m.group(1) == 'projection' else 'norm'
            out[f'tokenizers.{hr_name}.{sub}.{m.group(2)}'] = value
            continue
        m = re.match(r'stages\.(\d+)\.blocks\.(\d+)\.(.+)$', key)
        if m:
            stage, block, rest = int(m.group(1)), m.group(2), m.group(3)
            head = f'stages.{stage}.blocks.{block}.'
            rest = rest.replace('ffn.layers.0.0.', 'ffn.fc1.').replace('ffn.layers.1.', 'ffn.fc2.')
            if rest.startswith('attn.w_msa.'):
                rest = 'attn.' + rest[len('attn.w_msa.') :]
            if rest.startswith('norm3.'):
                # the extra norm of mmpretrain's huge/giant presets: no counterpart here
                dropped.append(key)
            elif stage < num_window_stages:
                out[head + rest] = value
            elif rest in ('attn.q_bias', 'attn.v_bias'):
                pending_bias.setdefault(head, {})[rest[-6]] = value
            elif rest.startswith(('attn.logit_scale', 'attn.cpb_mlp')):
                dropped.append(key)
            else:
                out[head + rest] = value
            continue
        if re.match(r'stages\.\d+\.downsample\.(reduction|norm)\.', key) or re.match(
            r'norm\d+\.(weight|bias)$', key
        ):
            out[key] = value
            continue
        dropped.append(key)
    for head, biases in pending_bias.items():
        q, v = biases.get('q'), biases.get('v')
        if q is None or v is None:
            raise KeyError(
                f'convert_mmpretrain_swinv2: {head} has q_bias without v_bias or the reverse'
            )
        out[head + 'attn.qkv.bias'] = torch.cat([q, torch.zeros_like(q), v])
    return out, dropped


def is_mmpretrain_swinv2(keys: Sequence[str]) -> bool:
    """Whether backbone keys (no prefix) are mmpretrain ``SwinTransformerV2``'s."""
    return any(
        k.startswith('patch_embed.') or (k.startswith('stages.') and '.attn.w_msa.' in k)
        for k in keys
    )


def read_checkpoint(path: str, map_location: str = 'cpu') -> Mapping:
    """A checkpoint file or URL, read by mmengine's loader (``weights_only=False`` for local
    files, see :mod:`mmskysense.compat.checkpoint_loading`)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    ckpt = CheckpointLoader.load_checkpoint(path, map_location=map_location)
    if not isinstance(ckpt, Mapping):
        raise TypeError(
            f'checkpoint {path} holds a {type(ckpt).__name__}, not a dict or a state dict'
        )
    return ckpt


def _unwrap(checkpoint: Mapping) -> StateDict:
    """Rules 1-2: the state dict inside a checkpoint dict, wrapper key segments removed."""
    if not isinstance(checkpoint, Mapping):
        raise TypeError(
            f'checkpoint_filter_fn: expected a checkpoint dict or a state dict, got '
            f'{type(checkpoint).__name__}'
        )
    state = checkpoint
    while True:
        field = next((f for f in WRAPPER_FIELDS if isinstance(state.get(f), Mapping)), None)
        if field is None:
            break
        state = state[field]
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(
            f'checkpoint_filter_fn: not a state dict: the entries {bad[:5]} are not '
            f'tensors (a checkpoint dict keeps its weights under one of '
            f'{list(WRAPPER_FIELDS)})'
        )
    out: StateDict = OrderedDict()
    for key, value in state.items():
        new = key
        while new.startswith(_LEADING_WRAPPERS):
            new = new.split('.', 1)[1]
        for inner in _INNER_WRAPPERS:
            new = new.replace(inner, '')
        if new in out:
            raise ValueError(
                f'checkpoint_filter_fn: {key!r} and another key both become '
                f'{new!r} once the wrapper segments are removed'
            )
        out[new] = value
    return out


def _select_prefix(
    state: StateDict, prefix: str | None, network: str, component: str = 'backbone'
) -> StateDict:
    """Rule 3: keep the component's keys and strip their prefix."""
    if component not in COMPONENT_PREFIXES:
        raise ValueError(
            f'checkpoint_filter_fn: `component` must be one of {sorted(COMPONENT_PREFIXES)}, '
            f'got {component!r}'
        )
    prefixes = COMPONENT_PREFIXES[component]
    if network not in prefixes:
        raise ValueError(
            f'checkpoint_filter_fn: `network` must be one of {sorted(prefixes)}, got {network!r}'
        )
    if prefix is None:
        candidates = [prefixes['teacher']] if network == 'teacher' else []
        candidates.append(prefixes['student'])
        prefix = next((p for p in candidates if any(k.startswith(p) for k in state)), '')
    if not prefix:
        return state
    out = OrderedDict((k[len(prefix) :], v) for k, v in state.items() if k.startswith(prefix))
    if not out:
        raise ValueError(
            f'checkpoint_filter_fn: no key starts with prefix {prefix!r}; the '
            f'first keys are {list(state)[:5]}'
        )
    return out


def _hr_tokenizer_name(backbone: nn.Module | None) -> str:
    """Where a V1 patch embedding goes: the model's ``hr`` tokenizer, else its first
    ``kind='hr'`` one; ``hr`` for a model without one (rule 6 then sets it aside)."""
    if backbone is None or 'hr' in backbone.tokenizers:
        return 'hr'
    hr = [n for n in backbone.tokenizers if backbone.modalities[n]['kind'] == 'hr']
    return hr[0] if hr else 'hr'


def _adapt_backbone_keys(
    state: StateDict, backbone: nn.Module | None, dropped: list[str]
) -> StateDict:
    """Rules 4-7 on the keys of one backbone (no prefix)."""
    out: StateDict = OrderedDict()
    for key, value in state.items():
        if key.split('.')[-1] in REBUILT_BUFFERS:
            dropped.append(key)
        else:
            out[key] = value
    if is_mmpretrain_swinv2(list(out)):
        out, v1_dropped = convert_mmpretrain_swinv2(out, hr_name=_hr_tokenizer_name(backbone))
        dropped.extend(v1_dropped)
    if backbone is None:
        return out
    built = set(backbone.tokenizers)
    for key in list(out):
        m = re.match(r'tokenizers\.([^.]+)\.', key) or re.match(
            r'stages\.\d+\.prompts\.tokens\.([^.]+)$', key
        )
        if m and m.group(1) not in built:
            dropped.append(key)
            del out[key]
    for name, moe in backbone.named_modules():
        if isinstance(moe, MixtureOfExperts):
            # per-expert keys (before the stacking) stacked; a dense FFN into every expert
            stack_expert_weights(out, name + '.', moe.num_experts)
    return out


def _backbones_of(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if isinstance(m, SkySenseV2Backbone)}


def checkpoint_filter_fn(
    checkpoint: Mapping,
    model: nn.Module | None = None,
    prefix: str | None = None,
    network: str = 'teacher',
    dropped: list[str] | None = None,
    component: str = 'backbone',
) -> StateDict:
    """Adapt a checkpoint to ``model`` (docs/interfaces.md, "Checkpoints", rules 1-7).

    Args:
        checkpoint: a checkpoint dict (weights under ``state_dict``, ``model`` or ``module``) or
            a state dict.
        model: what the result is loaded into: a ``SkySenseV2Backbone`` (or
            ``SkySenseV2SingleModal``), a module containing backbones (their keys are adapted
            where they sit, no prefix is selected), or None (a bare backbone; the rules that
            need the model, 6 and 7, are skipped).
        prefix: the backbone's prefix in the checkpoint (only for a backbone or None); None
            selects ``teacher.backbone.`` if present, else ``backbone.``, else none.
        network: ``'teacher'`` (default: the paper fine-tunes the EMA teacher) or
            ``'student'`` (looks for ``backbone.`` only); used when ``prefix`` is None.
        dropped: if given, the keys the rules set aside are appended to it.
        component: ``'backbone'``, or ``'fusion'`` for the multi-modal temporal fusion of a
            downstream model (``model`` is that module): rules 1-3 with the fusion's prefixes
            (``teacher.fusion.`` if present, else ``fusion.``); the backbone rules 4-7 do not
            apply to it.

    Returns:
        the adapted state dict (tensors shared with the checkpoint unless copied by a rule).
    """
    dropped = [] if dropped is None else dropped
    state = _unwrap(checkpoint)
    if component != 'backbone':
        return _select_prefix(state, prefix, network, component)
    backbones = {'': model} if model is None else _backbones_of(model)
    if model is None or '' in backbones:
        state = _select_prefix(state, prefix, network)
        return _adapt_backbone_keys(state, model, dropped)
    if prefix is not None:
        raise ValueError(
            f'checkpoint_filter_fn: `prefix` selects a backbone in the checkpoint; '
            f'{type(model).__name__} is not a backbone'
        )
    out = state
    for name, backbone in backbones.items():
        head = name + '.'
        sub = OrderedDict((k[len(head) :], v) for k, v in out.items() if k.startswith(head))
        if not sub:
            continue
        sub_dropped: list[str] = []
        adapted = _adapt_backbone_keys(sub, backbone, sub_dropped)
        dropped.extend(head + k for k in sub_dropped)
        rest = OrderedDict((k, v) for k, v in out.items() if not k.startswith(head))
        rest.update((head + k, v) for k, v in adapted.items())
        out = rest
    return out


def compare_with_model(
    state_dict: Mapping[str, torch.Tensor], model: nn.Module
) -> tuple[StateDict, list[str], list[str], list[str]]:
    """Split ``state_dict`` against ``model.state_dict()``.

    Returns:
        the tensors that fit (same name and shape), the model's keys the state dict lacks, the
        state dict's keys the model lacks, and ``'key: checkpoint (shape) vs model (shape)'``
        for each shape mismatch.
    """
    own = model.state_dict()
    fitting: StateDict = OrderedDict()
    mismatched, unexpected = [], []
    for k, v in state_dict.items():
        if k not in own:
            unexpected.append(k)
        elif tuple(v.shape) != tuple(own[k].shape):
            mismatched.append(f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}')
        else:
            fitting[k] = v
    missing = [k for k in own if k not in fitting]
    return fitting, missing, unexpected, mismatched


def load_weights(
    model: nn.Module,
    checkpoint: str | Mapping,
    prefix: str | None = None,
    network: str = 'teacher',
    strict: bool = False,
    map_location: str = 'cpu',
    name: str | None = None,
    component: str = 'backbone',
) -> dict:
    """Read (a path or URL), filter (:func:`checkpoint_filter_fn`), check shapes, load into
    ``model`` and report. ``name`` labels the checkpoint in messages (default: its path);
    ``component`` is passed to :func:`checkpoint_filter_fn`.

    Returns:
        ``dict(missing_keys, unexpected_keys, mismatched_keys, dropped_keys)``; shape-mismatched
        keys are not loaded and also count as missing. Each list is logged (warnings).

    Raises:
        ValueError: no key of the checkpoint fits the model, or ``strict`` and some keys are
            missing or mismatched.
    """
    if name is None:
        name = checkpoint if isinstance(checkpoint, str) else 'the checkpoint'
    ckpt = read_checkpoint(checkpoint, map_location) if isinstance(checkpoint, str) else checkpoint
    dropped: list[str] = []
    state = checkpoint_filter_fn(
        ckpt, model, prefix=prefix, network=network, dropped=dropped, component=component
    )
    fitting, missing, unexpected, mismatched = compare_with_model(state, model)
    what = type(model).__name__
    if not fitting:
        raise ValueError(
            f'{what}: no tensor of {name} fits the model (prefix={prefix!r}, '
            f'network={network!r}); its first keys after filtering are '
            f"{list(state)[:5]}, the model's {list(model.state_dict())[:5]}"
        )
    if strict and (missing or mismatched):
        raise ValueError(
            f'{what}: {name} does not fit the model: missing keys {missing[:20]}'
            f'{" ..." if len(missing) > 20 else ""}, shape mismatches '
            f'{mismatched[:20]}'
        )
    model.load_state_dict(fitting, strict=False)
    logger = MMLogger.get_current_instance()
    logger.info(f'{what}: loaded {len(fitting)} tensors from {name}')
    for label, keys in (
        ('missing keys', missing),
        ('unexpected keys', unexpected),
        ('shape mismatch, not loaded', mismatched),
    ):
        if keys:
            logger.warning(f'{what}: {label} in {name}: {keys}')
    if dropped:
        logger.info(
            f'{what}: set aside from {name} (rebuilt buffers, SkySense V1 tensors '
            f'without counterpart, modalities not built): {dropped}'
        )
    return dict(
        missing_keys=missing,
        unexpected_keys=unexpected,
        mismatched_keys=mismatched,
        dropped_keys=dropped,
    )
