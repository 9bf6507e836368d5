"""Load mmengine checkpoints on torch >= 2.6, with ``weights_only=True`` and an allowlist.

mmengine 0.10.7 calls ``torch.load(filename, map_location=...)``. Since torch 2.6 that means
``weights_only=True``, which refuses the Python objects that mmengine itself writes into every
checkpoint (the message hub's ``HistoryBuffer`` and the numpy arrays inside it, numpy scalars in
``meta``), so ``load_from`` of a Runner checkpoint and ``--resume`` fail. mmengine's main branch
passes ``weights_only=False``; we keep torch's safe unpickler and allow exactly those objects
(:func:`checkpoint_safe_globals`, timm's approach), for local paths in mmengine's
``CheckpointLoader``.

The patch is installed when ``mmengine.runner.checkpoint`` is imported, only for an mmengine that
calls ``torch.load`` without ``weights_only`` (<= 0.10.7, the measured one) on a torch whose
default is ``weights_only=True`` (>= 2.6). A checkpoint holding any other object is refused with
its name; ``MMSKYSENSE_TRUST_CHECKPOINTS=1`` loads such a file you trust as a plain pickle.
"""

import os
import os.path as osp
import pickle
from types import ModuleType

from .import_hooks import after_import

#: the newest mmengine release whose checkpoint loader calls torch.load without weights_only
PATCHED_MMENGINE = '0.10.7'
#: torch's first release with ``weights_only=True`` as the default
TORCH_WEIGHTS_ONLY_DEFAULT = '2.6.0'
#: set to 1 to load a trusted checkpoint that holds objects outside the allowlist
TRUST_ENV = 'MMSKYSENSE_TRUST_CHECKPOINTS'
#: the statistics methods every mmengine ``HistoryBuffer`` keeps (and pickles) by name
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_method(owner: object, name: str):
    """``getattr`` as a checkpoint may call it: only for the statistics methods (``mean``,
    ``current``, ...) that every ``HistoryBuffer`` keeps in its ``statistics_methods`` (a
    protocol-2 pickle names a method as ``getattr(HistoryBuffer, 'mean')``)."""
    from mmengine.logging.history_buffer import HistoryBuffer

    # the class-level registry fills only once a buffer exists (or register_statistics ran)
    allowed = set(HISTORY_BUFFER_STATISTICS) | set(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({owner!r}, {name!r}) is not allowed in a checkpoint (only the statistics '
        f"methods of mmengine's HistoryBuffer: {sorted(allowed)})"
    )


def checkpoint_safe_globals() -> list:
    """The objects besides tensors that mmengine writes into a Runner checkpoint: the message
    hub's ``HistoryBuffer`` (with its statistics methods), numpy arrays (its history), numpy
    scalars and dtypes (``meta``, logged values). Numpy's pickles name ``numpy.core`` (numpy 1)
    or ``numpy._core`` (numpy 2)."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtypes = {type(np.dtype(t)) for t in np.sctypeDict.values() if t is not np.void}
    allowed: list = [HistoryBuffer, np.ndarray, np.dtype, *sorted(dtypes, key=str)]
    for name in ('_reconstruct', 'scalar'):
        func = getattr(multiarray, name)
        allowed += [(func, f'{mod}.multiarray.{name}') for mod in ('numpy.core', 'numpy._core')]
    allowed.append((_history_buffer_method, 'builtins.getattr'))
    return allowed


def _load_from_local(filename: str, map_location: str | None = None, mmap: bool = False) -> dict:
    """``torch.load`` of a local checkpoint with the allowlist; ``mmap``: the tensors map the
    file (copy-on-write) instead of being read into memory (files of torch's zip format)."""
    import torch

    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        if os.environ.get(TRUST_ENV) == '1':
            return torch.load(filename, map_location=map_location, weights_only=False, mmap=mmap)
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(
            f'checkpoint {filename} holds objects that mmskysense does not load unasked '
            f"(allowed besides tensors: mmengine's HistoryBuffer, numpy arrays, scalars and "
            f'dtypes): {e}\nIf you trust the file, set {TRUST_ENV}=1 to load it as a plain '
            'pickle, or allow the named objects with torch.serialization.add_safe_globals.'
        ) from e
    except (EOFError, RuntimeError) as e:
        # torch's own message for a truncated file ("PytorchStreamReader failed ...") does not
        # say which file; a resume from a half-written checkpoint is the usual cause.
        raise RuntimeError(
            f'cannot read checkpoint {filename}: {e}. The file may be '
            'truncated (for example by a job killed while saving).'
        ) from e


def mmengine_needs_patch() -> bool:
    """Whether mmengine's local loader would refuse its own checkpoints here."""
    import mmengine
    import torch
    from mmengine.utils import digit_version

    torch_version = torch.__version__.split('+')[0]
    return digit_version(mmengine.__version__) <= digit_version(PATCHED_MMENGINE) and digit_version(
        torch_version
    ) >= digit_version(TORCH_WEIGHTS_ONLY_DEFAULT)


def patch_mmengine_checkpoint_loading(module: ModuleType | None = None) -> None:
    """Register the allowlisted loader for local paths in mmengine's ``CheckpointLoader``
    (idempotent); ``module`` is ``mmengine.runner.checkpoint`` (imported if None)."""
    if module is None:
        from mmengine.runner import checkpoint as module
    module.CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local, force=True)


def _patch_if_needed(module: ModuleType) -> None:
    if mmengine_needs_patch():
        patch_mmengine_checkpoint_loading(module)


def install_checkpoint_loading_hook() -> None:
    """Patch mmengine's loader when ``mmengine.runner.checkpoint`` is imported (now if it is
    already), where :func:`mmengine_needs_patch`. The versions are read then, not here:
    ``import mmskysense`` imports neither torch nor mmengine (an exported model runs without
    them)."""
    after_import('mmengine.runner.checkpoint', _patch_if_needed)
