"""Set fields of a config's ``custom_hooks`` by the hook's type, not by its place in the list.

``--cfg-options custom_hooks.2.data_root=DIR`` breaks silently when a recipe adds or reorders a
hook (it then sets a field of another hook); ``--hook-options KNNEvalHook.data_root=DIR`` names
the hook and fails loudly when the config has none of that type, or more than one.
"""

import argparse
from collections.abc import Mapping
from typing import Any

from mmengine.config import Config, DictAction


def _bare_type(hook_type: Any) -> str:
    """``'mmskysense.KNNEvalHook'`` -> ``'KNNEvalHook'``; a class -> its name."""
    name = hook_type if isinstance(hook_type, str) else getattr(hook_type, '__name__', '')
    return name.rsplit('.', 1)[-1]


def find_hook(cfg: Config, hook_type: str) -> int:
    """The index in ``cfg.custom_hooks`` of the one hook of type ``hook_type`` (a registry scope
    such as ``mmskysense.`` is ignored on either side).

    Raises:
        KeyError: the config has no hook of that type, or more than one (the message names the
            type and the hooks the config has).
    """
    hooks = cfg.get('custom_hooks') or []
    types = [_bare_type(h.get('type')) for h in hooks]
    wanted = _bare_type(hook_type)
    found = [i for i, t in enumerate(types) if t == wanted]
    if len(found) != 1:
        have = ', '.join(f'{i}: {t}' for i, t in enumerate(types)) or 'none'
        what = 'no hook' if not found else f'{len(found)} hooks (at {found})'
        raise KeyError(
            f'custom_hooks has {what} of type {wanted!r}; expected exactly one '
            f'(custom_hooks: {have})'
        )
    return found[0]


def merge_hook_options(cfg: Config, options: Mapping[str, Any] | None) -> Config:
    """Merge ``{'HookType.field[.subfield]': value}`` into the one hook of that type in
    ``cfg.custom_hooks`` (in place; returns ``cfg``), with mmengine's own merge semantics.

    Raises:
        ValueError: a key without a field (``'KNNEvalHook'``: expected ``HookType.field``).
        KeyError: as :func:`find_hook`, the key named in the message.
    """
    for key, value in (options or {}).items():
        hook_type, _, field = key.partition('.')
        if not hook_type or not field:
            raise ValueError(f'--hook-options {key}={value}: expected HookType.field=value')
        try:
            index = find_hook(cfg, hook_type)
        except KeyError as e:
            raise KeyError(f'--hook-options {key}: {e.args[0]}') from None
        cfg.merge_from_dict({f'custom_hooks.{index}.{field}': value})
    return cfg


def add_hook_options_argument(parser: argparse.ArgumentParser) -> None:
    """``--hook-options HookType.field=value ...`` for a tool's parser (train.py, test.py)."""
    parser.add_argument(
        '--hook-options',
        nargs='+',
        action=DictAction,
        help='set fields of a hook of custom_hooks found by its type, not its place in the '
        'list, e.g. KNNEvalHook.data_root=DIR KNNEvalHook.interval=100 (applied after '
        '--cfg-options; an error when the config has no hook of that type, or several)',
    )


def apply_hook_options(cfg: Config, config_path: str, options: Mapping[str, Any] | None) -> Config:
    """:func:`merge_hook_options` for a command line: a bad option ends the tool with a message
    that names the config file and the hook type, not a traceback."""
    try:
        return merge_hook_options(cfg, options)
    except (KeyError, ValueError) as e:
        raise SystemExit(f'{config_path}: {e.args[0]}') from None
