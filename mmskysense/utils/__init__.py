"""Entry-point helpers. Imported lazily (PEP 562): the ONNX scene path imports
``mmskysense.utils.atomic_files`` without torch or mmengine, which ``hook_options`` and
``setup_env`` need."""

import importlib

_EXPORTS = {
    'add_hook_options_argument': 'hook_options',
    'apply_hook_options': 'hook_options',
    'find_hook': 'hook_options',
    'merge_hook_options': 'hook_options',
    'register_all_modules': 'setup_env',
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f'.{_EXPORTS[name]}', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
