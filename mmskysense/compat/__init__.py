"""Patches that make the measured stack (the README's Install section) work together, without
editing site-packages. Each has a test in tests/test_foundation/ that fails without it.

* :mod:`.mmrotate_py311` - mmrotate 1.0.0rc1 imports on Python 3.11 next to mmdet 3.3.0;
* :mod:`.checkpoint_loading` - mmengine 0.10.7 loads its own checkpoints on torch >= 2.6;
* :mod:`.cpu_distributed` - mmengine's launchers start gloo process groups on machines without GPUs.

The first two are installed when :mod:`mmskysense` is imported; the third is called by
``tools/train.py`` and ``tools/test.py`` before the Runner is built.
"""

from .checkpoint_loading import patch_mmengine_checkpoint_loading
from .cpu_distributed import init_cpu_distributed, needs_cpu_distributed
from .mmrotate_py311 import install_mmrotate_import_hook

install_mmrotate_import_hook()
patch_mmengine_checkpoint_loading()

__all__ = [
    'install_mmrotate_import_hook',
    'patch_mmengine_checkpoint_loading',
    'init_cpu_distributed',
    'needs_cpu_distributed',
]
