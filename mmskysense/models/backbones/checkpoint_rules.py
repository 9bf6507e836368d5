"""The SkySense V2 backbone's checkpoint key rules (rules 4-7 of docs/interfaces.md,
"Checkpoints"), beside the backbone, and :func:`checkpoint_filter_fn`, the one adaptation every
entry point goes through (timm's ``checkpoint_filter_fn`` pattern).

The model-agnostic part (unwrapping, prefixes, shape checks, loading, the report) is
:mod:`mmskysense.models.utils.checkpoint_loader`; it finds these rules through the backbone's
``adapt_checkpoint_keys`` method, never through its class. This module imports no backbone: the
backbone imports it.
"""

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from mmskysense.models.layers.mixture_of_experts import MixtureOfExperts, stack_expert_weights
from mmskysense.models.utils.checkpoint_loader import (
    StateDict,
    filter_checkpoint,
    select_prefix,
    unwrap_state_dict,
)
from mmskysense.models.utils.pretrained_init import component_prefixes

#: stages 1-2 use Swin V2 window blocks, stages 3-4 global blocks (section 3.1.1): the backbone
#: builds its stages by it, and the SkySense V1 conversion maps window tensors by it
NUM_WINDOW_STAGES = 2
#: where the pretraining algorithm keeps each network's backbone (``SkySenseV2``)
PRETRAINING_PREFIXES = component_prefixes('backbone')
#: buffers that the blocks rebuild from the configuration, never loaded
REBUILT_BUFFERS = ('relative_position_index', 'relative_coords_table')


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


def _hr_tokenizer_name(backbone: nn.Module | None) -> str:
    """Where a V1 patch embedding goes: the model's ``hr`` tokenizer, else its first
    ``kind='hr'`` one; ``hr`` for a model without one (rule 6 then sets it aside)."""
    if backbone is None or 'hr' in backbone.tokenizers:
        return 'hr'
    hr = [n for n in backbone.tokenizers if backbone.modalities[n]['kind'] == 'hr']
    return hr[0] if hr else 'hr'


def adapt_backbone_keys(
    state: StateDict, backbone: nn.Module | None, dropped: list[str]
) -> StateDict:
    """Rules 4-7 on the keys of one backbone (no prefix); ``backbone`` None (its class
    unknown) skips the rules that need the model (6 and 7)."""
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
        model: what the result is loaded into: a pretrained component (a
            ``SkySenseV2Backbone`` / ``SkySenseV2SingleModal``, a ``MultiModalTemporalFusion``:
            its keys are selected, then adapted by its own rules), a module containing
            components (each adapts its keys where they sit, no prefix is selected), or None
            (a bare ``component`` whose module is unknown: the rules that need the model, 6 and
            7, are skipped).
        prefix: the component's prefix in the checkpoint (only for a component or None); None
            selects the teacher's copy (``teacher.backbone.``) if present, else the student's
            (``backbone.``), else none.
        network: ``'teacher'`` (default: the paper fine-tunes the EMA teacher) or
            ``'student'`` (looks for the student's prefix only); used when ``prefix`` is None.
        dropped: if given, the keys the rules set aside are appended to it.
        component: with ``model`` None, which component the keys are: ``'backbone'`` (rules
            1-5) or ``'fusion'`` (F_fus: rules 1-3 with ``teacher.fusion.`` / ``fusion.``). A
            model given is its own component.

    Returns:
        the adapted state dict (tensors shared with the checkpoint unless copied by a rule).
    """
    prefixes = component_prefixes(component)
    dropped = [] if dropped is None else dropped
    if model is not None:
        return filter_checkpoint(checkpoint, model, prefix, network, dropped)
    state = select_prefix(unwrap_state_dict(checkpoint), prefixes, prefix, network)
    return adapt_backbone_keys(state, None, dropped) if component == 'backbone' else state
