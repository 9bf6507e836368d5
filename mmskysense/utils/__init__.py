from .hook_options import (
    add_hook_options_argument,
    apply_hook_options,
    find_hook,
    merge_hook_options,
)
from .setup_env import register_all_modules

__all__ = [
    'add_hook_options_argument',
    'apply_hook_options',
    'find_hook',
    'merge_hook_options',
    'register_all_modules',
]
