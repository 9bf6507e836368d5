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

A third breakage follows from the second: ``eval_rbbox_map`` (behind ``DOTAMetric``) always
starts a ``spawn`` process pool, whose fresh workers import ``mmrotate`` without this hook, die at
the version check, and leave the pool waiting forever. The same finder patches
``mmrotate.evaluation.functional.mean_ap`` when it loads so that its pool runs the work in the
calling process (the result is the same; only the worker processes are gone).
"""

import collections
import collections.abc
import importlib.abc
import importlib.machinery
import itertools
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


class _InProcessPool:
    """The part of ``multiprocessing.Pool`` that ``eval_rbbox_map`` uses, run in this process."""

    def __init__(self, processes=None) -> None:
        pass

    def starmap(self, func, iterable):
        return list(itertools.starmap(func, iterable))

    def map(self, func, iterable):
        return list(map(func, iterable))

    def close(self) -> None:
        pass

    def join(self) -> None:
        pass

    def terminate(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class _InProcessContext:
    Pool = _InProcessPool


def _in_process_context(method=None) -> _InProcessContext:
    return _InProcessContext()


#: module of mmrotate whose ``get_context`` (spawn pool) is replaced
MEAN_AP_MODULE = 'mmrotate.evaluation.functional.mean_ap'


class _InProcessPoolLoader(_VersionCheckLoader):
    """Runs the real loader of mmrotate's mean_ap, then points its pool at this process."""

    def exec_module(self, module: ModuleType) -> None:
        self.wrapped.exec_module(module)
        module.get_context = _in_process_context


class _MMRotateFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None, target=None):
        if fullname not in ('mmrotate', MEAN_AP_MODULE):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        loader = _VersionCheckLoader if fullname == 'mmrotate' else _InProcessPoolLoader
        spec.loader = loader(spec.loader)
        return spec


def install_mmrotate_import_hook() -> None:
    """Install the import hook and the ``collections.Sequence`` alias (idempotent)."""
    if not hasattr(collections, 'Sequence'):
        # Python 3.10 removed the aliases of the abstract base classes from `collections`.
        collections.Sequence = collections.abc.Sequence  # type: ignore[attr-defined]
    if not any(isinstance(f, _MMRotateFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MMRotateFinder())
