"""Let mmrotate 1.0.0rc1 import on Python 3.11 with mmdet 3.3.0.

Two things stop it, both at import time:

* ``mmrotate/models/detectors/refine_single_stage.py`` does ``from collections import Sequence``,
  removed in Python 3.10 (it lives in ``collections.abc``);
* ``mmrotate/__init__.py`` asserts ``mmdet <= 3.1.0``, while mmdet 3.1.0 needs ``mmcv < 2.1.0``,
  which cannot be compiled against torch 2.x. The parts of mmdet that mmrotate uses did not change
  in a way that matters for it between 3.1 and 3.3 (Oriented R-CNN trains and predicts, see
  tests/test_foundation/test_compat_mmrotate.py).

A third follows from the second: ``eval_rbbox_map`` (behind ``DOTAMetric``) always starts a
``spawn`` process pool, whose fresh workers import ``mmrotate`` without these patches, die at the
version check, and leave the pool waiting forever.

Each patch runs only when the module it mends is imported (:mod:`.import_hooks`), only for the
mmrotate release it was measured with, and only where it is needed:

* while ``refine_single_stage`` runs, and only on a Python without it, ``collections.Sequence``
  names ``collections.abc.Sequence`` (removed again right after: nothing else sees it);
* while ``mmrotate/__init__.py`` runs, and only where mmdet is newer than its check accepts,
  ``mmdet.__version__`` reads ``3.1.0`` (restored right after);
* once ``mmrotate.evaluation.functional.mean_ap`` is loaded, its pool runs the work in the calling
  process (the result is the same; only the worker processes are gone).
"""

import collections
import collections.abc
import importlib.metadata
import itertools
from collections.abc import Callable
from types import ModuleType

from .import_hooks import after_import, around_import

#: the mmrotate release these patches were measured with (no later 1.x release exists)
PATCHED_MMROTATE = '1.0.0rc1'
#: the newest mmdet that mmrotate 1.0.0rc1's import-time check accepts
MMROTATE_MAX_MMDET = '3.1.0'
#: the module of mmrotate that imports ``Sequence`` from ``collections``
SEQUENCE_MODULE = 'mmrotate.models.detectors.refine_single_stage'
#: module of mmrotate whose ``get_context`` (spawn pool) is replaced
MEAN_AP_MODULE = 'mmrotate.evaluation.functional.mean_ap'


def _lower_mmdet_version(execute: Callable[[ModuleType], None], module: ModuleType) -> None:
    import mmdet
    from mmengine.utils import digit_version

    real_version = mmdet.__version__
    if digit_version(real_version) <= digit_version(MMROTATE_MAX_MMDET):
        execute(module)  # the check passes as it is
        return
    mmdet.__version__ = MMROTATE_MAX_MMDET
    try:
        execute(module)
    finally:
        mmdet.__version__ = real_version


def _alias_sequence(execute: Callable[[ModuleType], None], module: ModuleType) -> None:
    if hasattr(collections, 'Sequence'):  # Python < 3.10 still has the alias
        execute(module)
        return
    # Python 3.10 removed the aliases of the abstract base classes from `collections`
    collections.Sequence = collections.abc.Sequence  # type: ignore[attr-defined]
    try:
        execute(module)
    finally:
        del collections.Sequence  # type: ignore[attr-defined]


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


def _pool_in_process(module: ModuleType) -> None:
    if hasattr(module, 'get_context'):
        module.get_context = _in_process_context


def mmrotate_needs_patches() -> bool:
    """Whether the installed mmrotate is the release these patches mend (read from its
    metadata, without importing it)."""
    try:
        return importlib.metadata.version('mmrotate') == PATCHED_MMROTATE
    except importlib.metadata.PackageNotFoundError:
        return False


def install_mmrotate_import_hook() -> None:
    """Arrange the three patches for when mmrotate is imported (idempotent); nothing for
    another mmrotate release or none."""
    if not mmrotate_needs_patches():
        return
    around_import('mmrotate', _lower_mmdet_version)
    around_import(SEQUENCE_MODULE, _alias_sequence)
    after_import(MEAN_AP_MODULE, _pool_in_process)
