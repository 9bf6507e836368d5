"""Patches that make the measured stack (the README's Install section) work together, without
editing site-packages. Each has a test in tests/test_foundation/ that fails without it.

* :mod:`.mmrotate_py311` - mmrotate 1.0.0rc1 imports on Python 3.11 next to mmdet 3.3.0;
* :mod:`.checkpoint_loading` - mmengine 0.10.7 loads its own checkpoints on torch >= 2.6, with
  ``weights_only=True`` and an allowlist.

Importing :mod:`mmskysense` arms both through one import hook (:mod:`.import_hooks`): each patch
runs only when the module it mends is imported, and only for the versions it was measured with.
(Distributed start-up without GPUs, which patches no library, is
:mod:`mmskysense.engine.cpu_distributed`.)
"""

from .checkpoint_loading import install_checkpoint_loading_hook, patch_mmengine_checkpoint_loading
from .mmrotate_py311 import install_mmrotate_import_hook

install_mmrotate_import_hook()
install_checkpoint_loading_hook()

__all__ = [
    'install_checkpoint_loading_hook',
    'install_mmrotate_import_hook',
    'patch_mmengine_checkpoint_loading',
]
