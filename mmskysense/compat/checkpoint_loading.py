"""Load mmengine checkpoints on torch >= 2.6.

mmengine 0.10.7 calls ``torch.load(filename, map_location=...)``. Since torch 2.6 that means
``weights_only=True``, which refuses the Python objects that mmengine itself writes into every
checkpoint (the message hub's ``HistoryBuffer``, numpy scalars in ``meta``), so ``load_from`` of a
Runner checkpoint and ``--resume`` fail. mmengine's main branch passes ``weights_only=False``; we
register the same loader for local paths in mmengine's ``CheckpointLoader``.

As with every torch version before 2.6, a checkpoint is a pickle: load only checkpoints you trust.
"""

import os.path as osp

import torch


def _load_from_local(filename: str, map_location: str | None = None) -> dict:
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        return torch.load(filename, map_location=map_location, weights_only=False)
    except (EOFError, RuntimeError) as e:
        # torch's own message for a truncated file ("PytorchStreamReader failed ...") does not
        # say which file; a resume from a half-written checkpoint is the usual cause.
        raise RuntimeError(
            f'cannot read checkpoint {filename}: {e}. The file may be '
            'truncated (for example by a job killed while saving).'
        ) from e


def patch_mmengine_checkpoint_loading() -> None:
    """Make mmengine's local-file checkpoint loader pass ``weights_only=False`` (idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local, force=True)
