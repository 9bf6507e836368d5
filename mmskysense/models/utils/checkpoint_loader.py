"""The model-agnostic checkpoint loader: read, unwrap, select a component, adapt, check, load.

Nothing here knows a model class. A module whose checkpoints need their own key rules exposes
them (the protocol below); :func:`filter_checkpoint` finds such modules by that method, in the
model itself or inside it, and applies their rules to their own keys where they sit:

* ``checkpoint_prefixes`` (a mapping ``network -> prefix``): where a pretraining checkpoint keeps
  this component for each network (``teacher``, ``student``);
* ``adapt_checkpoint_keys(state, dropped) -> state``: the component's key rules on its own keys
  (no prefix); what it sets aside it appends to ``dropped``.

``mmskysense.models.utils.pretrained_init.PretrainedInitMixin`` gives both (and
``load_pretrained`` / ``init_weights``); the backbone's rules are in
``mmskysense/models/backbones/checkpoint_rules.py``. The rules and their order are listed in
docs/interfaces.md ("Checkpoints").
"""

import contextlib
import os.path as osp
from collections import OrderedDict
from collections.abc import Mapping

import torch
import torch.nn as nn
from mmengine.logging import MMLogger

StateDict = dict[str, torch.Tensor]

#: fields that hold the state dict in a checkpoint dict: mmengine / mmcls / DeepSpeed
WRAPPER_FIELDS = ('state_dict', 'model', 'module')
#: leading key segments added by DDP / DataParallel / DeepSpeed, and by ``torch.compile``
_LEADING_WRAPPERS = ('module.', '_orig_mod.')
#: inner key segments added by FSDP1 and by activation-checkpoint wrappers
_INNER_WRAPPERS = ('_fsdp_wrapped_module.', '_checkpoint_wrapped_module.')


def read_checkpoint(path: str, map_location: str = 'cpu', mmap: bool = False) -> Mapping:
    """A checkpoint file or URL, read by mmengine's loader (local files through
    :mod:`mmskysense.compat.checkpoint_loading`: ``weights_only=True`` with an allowlist).

    ``mmap``: a local file in torch's zip format is mapped, not read: its tensors are pages of
    the file (copy-on-write), resident only once touched, so a model that takes them
    (:func:`load_weights` with ``assign=True``) holds its weights once, not twice. Other files
    and URLs are read as usual.

    A directory must be a sharded checkpoint (``FSDP2Strategy``'s ``iter_N.pth/``): its model
    state dict is read from the shards, each tensor allocated once (not the optimiser's state;
    ``mmskysense.engine.strategies.load_sharded_checkpoint``); any other directory is an error
    naming it.
    """
    import zipfile

    from mmengine.runner.checkpoint import CheckpointLoader

    from mmskysense.compat.checkpoint_loading import _load_from_local

    if osp.isdir(osp.expanduser(path)):
        from mmskysense.engine.strategies.sharded_checkpoint import load_sharded_checkpoint

        return load_sharded_checkpoint(osp.expanduser(path))
    if mmap and osp.isfile(osp.expanduser(path)) and zipfile.is_zipfile(osp.expanduser(path)):
        ckpt = _load_from_local(path, map_location=map_location, mmap=True)
    else:
        ckpt = CheckpointLoader.load_checkpoint(path, map_location=map_location)
    if not isinstance(ckpt, Mapping):
        raise TypeError(
            f'checkpoint {path} holds a {type(ckpt).__name__}, not a dict or a state dict'
        )
    return ckpt


def unwrap_state_dict(checkpoint: Mapping) -> StateDict:
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


def select_prefix(
    state: StateDict, prefixes: Mapping[str, str], prefix: str | None, network: str
) -> StateDict:
    """Rule 3: keep one component's keys and strip their prefix.

    ``prefix`` given: the keys under it (an error if there are none). None: the first of
    ``prefixes['teacher']`` (only for ``network='teacher'``) and ``prefixes['student']`` that
    the state has; neither: the keys as they are (a bare component).
    """
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


def has_checkpoint_rules(module: nn.Module | None) -> bool:
    """Whether ``module`` is a pretrained component (exposes the protocol above)."""
    return callable(getattr(module, 'adapt_checkpoint_keys', None)) and isinstance(
        getattr(module, 'checkpoint_prefixes', None), Mapping
    )


def components_of(model: nn.Module) -> dict[str, nn.Module]:
    """The outermost pretrained components inside ``model``, by their name in it."""
    found: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if name and has_checkpoint_rules(module):
            if not any(name.startswith(outer + '.') for outer in found):
                found[name] = module
    return found


def filter_checkpoint(
    checkpoint: Mapping,
    model: nn.Module,
    prefix: str | None = None,
    network: str = 'teacher',
    dropped: list[str] | None = None,
) -> StateDict:
    """Adapt a checkpoint to ``model`` (rules 1-3 here, the components' own rules after).

    ``model`` a pretrained component: its keys are selected (``prefix``, ``network``, see
    :func:`select_prefix`) and adapted by its ``adapt_checkpoint_keys``. Any other module: each
    component inside it adapts its keys where they sit (``prefix`` must then be None); the
    other keys stay as they are.
    """
    dropped = [] if dropped is None else dropped
    state = unwrap_state_dict(checkpoint)
    if has_checkpoint_rules(model):
        state = select_prefix(state, model.checkpoint_prefixes, prefix, network)
        return model.adapt_checkpoint_keys(state, dropped)
    if prefix is not None:
        raise ValueError(
            f'checkpoint_filter_fn: `prefix` selects one pretrained component in the '
            f'checkpoint; {type(model).__name__} is not a pretrained component (no '
            '`checkpoint_prefixes` / `adapt_checkpoint_keys`): the components inside it are '
            'adapted where they sit'
        )
    out = state
    for name, component in components_of(model).items():
        head = name + '.'
        sub = OrderedDict((k[len(head) :], v) for k, v in out.items() if k.startswith(head))
        if not sub:
            continue
        sub_dropped: list[str] = []
        adapted = component.adapt_checkpoint_keys(sub, sub_dropped)
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


@contextlib.contextmanager
def parameters_on_meta():
    """Modules built inside keep their parameters on the meta device: no memory and no random
    initialisation, for a model whose weights all come from a checkpoint
    (:func:`load_weights` with ``assign=True``, which refuses to leave one on meta). Buffers
    are built as usual (some are computed, not saved). Not thread-safe (it swaps
    ``nn.Module.register_parameter`` while the block runs)."""
    register = nn.Module.register_parameter

    def on_meta(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and not param.is_meta:
            param = nn.Parameter(param.to('meta'), requires_grad=param.requires_grad)
        register(self, name, param)

    nn.Module.register_parameter = on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter = register


def load_weights(
    model: nn.Module,
    checkpoint: str | Mapping,
    prefix: str | None = None,
    network: str = 'teacher',
    strict: bool = False,
    map_location: str = 'cpu',
    name: str | None = None,
    assign: bool = False,
) -> dict:
    """Read (a path or URL), filter (:func:`filter_checkpoint`), check shapes, load into
    ``model`` and report. ``name`` labels the checkpoint in messages (default: its path).

    ``assign``: the model takes the checkpoint's tensors (``load_state_dict(assign=True)``)
    instead of copying them into its own, whose memory is freed as each is replaced; with a
    mapped checkpoint (:func:`read_checkpoint` ``mmap=True``, how a path is read then) the
    weights are never held twice. Each tensor keeps the model's dtype and device (a tensor
    that differs is converted first; a model built under :func:`parameters_on_meta` takes the
    checkpoint's device) and its ``requires_grad``.

    Returns:
        ``dict(missing_keys, unexpected_keys, mismatched_keys, dropped_keys)``; shape-mismatched
        keys are not loaded and also count as missing. Each list is logged (warnings).

    Raises:
        ValueError: no key of the checkpoint fits the model, or ``strict`` and some keys are
            missing or mismatched.
    """
    if name is None:
        name = checkpoint if isinstance(checkpoint, str) else 'the checkpoint'
    if isinstance(checkpoint, str):
        ckpt = read_checkpoint(checkpoint, map_location, mmap=assign)
    else:
        ckpt = checkpoint
    dropped: list[str] = []
    state = filter_checkpoint(ckpt, model, prefix=prefix, network=network, dropped=dropped)
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
    if assign:
        own = model.state_dict()
        fitting = OrderedDict(
            (k, v.to(device=v.device if own[k].is_meta else own[k].device, dtype=own[k].dtype))
            for k, v in fitting.items()
        )
    model.load_state_dict(fitting, strict=False, assign=assign)
    empty = [k for k, v in model.state_dict().items() if v.is_meta]
    if empty:
        raise ValueError(
            f'{type(model).__name__}: built without weights (parameters_on_meta), but {name} '
            f'has no tensor for {empty[:20]}{" ..." if len(empty) > 20 else ""}'
        )
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
            f"{what}: set aside from {name} by the components' key rules (rebuilt buffers, "
            f'SkySense V1 tensors without counterpart, modalities not built): {dropped}'
        )
    return dict(
        missing_keys=missing,
        unexpected_keys=unexpected,
        mismatched_keys=mismatched,
        dropped_keys=dropped,
    )
