"""Let mmrotate 1.0.0rc1 import on Python 3.11 with mmdet 3.3.0.

Two things stop it, both at import time:

* ``mmrotate/models/detectors/refine_single_stage.py`` does ``from collections import Sequence``,
  removed in Python 3.10 (it lives in ``collections.abc``);
* ``mmrotate/__init__.py`` asserts ``mmdet <= 3.1.0``, while mmdet 3.1.0 needs ``mmcv < 2.1.0``,
  which cannot be compiled against torch 2.x. The parts of mmdet that mmrotate uses did not change
  in a way that matters for it between 3.1 and 3.3 (Oriented R-CNN trains and predicts, see
  tests/test_foundation/test_compat_mmrotate.py).

A meta-path finder wraps the loading of the top-level ``mmrotate`` package, whichever code imports
it first (our configs, mmengine's scope lookup ``import_module('mmrotate.registry')``, a user):
during that one import ``mmdet.__version__`` reads ``3.1.0``; it is restored right after.
"""

import collections
import collections.abc
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

#: the newest mmdet that mmrotate 1.0.0rc1's import-time check accepts
MMROTATE_MAX_MMDET = '3.1.0'


class _VersionCheckLoader(importlib.abc.Loader):
    """Runs the real loader of ``mmrotate`` with mmdet's version string lowered."""

    def __init__(self, wrapped: importlib.abc.Loader) -> None:
        self.wrapped = wrapped

    def create_module(self, spec):
        return self.wrapped.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        import mmdet

        real_version = mmdet.__version__
        mmdet.__version__ = MMROTATE_MAX_MMDET
        try:
            self.wrapped.exec_module(module)
        finally:
            mmdet.__version__ = real_version


class _MMRotateFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None, target=None):
        if fullname != 'mmrotate':
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _VersionCheckLoader(spec.loader)
        return spec


def install_mmrotate_import_hook() -> None:
    """Install the import hook and the ``collections.Sequence`` alias (idempotent)."""
    if not hasattr(collections, 'Sequence'):
        # Python 3.10 removed the aliases of the abstract base classes from `collections`.
        collections.Sequence = collections.abc.Sequence  # type: ignore[attr-defined]
    if not any(isinstance(f, _MMRotateFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MMRotateFinder())
