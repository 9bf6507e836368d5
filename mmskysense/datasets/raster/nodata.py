"""The one nodata rule of whole-file reads (downstream datasets, fine-tuning and test pipelines).

A pixel of an image holds data when every band read holds data: not the band's declared nodata
value, not flagged by an internal / sidecar mask or alpha, and finite (the pretraining rule,
``read_window(valid='all')``; the whole-file reads ``read_raster_valid`` and ``label_valid``
share its per-band test). Where it does not, the image is 0 (as pretraining crops and the scene
loop feed the model) and a label gets the ignore index; this module holds the array side of the
rule. docs/interfaces.md, The raster package.
"""

import numpy as np

#: the label of a pixel without data (mmseg's ignore index)
IGNORE_INDEX = 255


def values_valid(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """True where every channel (along ``axis``) is finite: the rule for arrays without a
    declared nodata value (PASTIS's ``.npy`` series). Integer arrays are all valid."""
    if not np.issubdtype(values.dtype, np.floating):
        shape = list(values.shape)
        del shape[axis]
        return np.ones(shape, dtype=bool)
    return np.isfinite(values).all(axis=axis)


def fill_invalid(
    values: np.ndarray, valid: np.ndarray, fill: float = 0, axis: int = -1
) -> np.ndarray:
    """Set ``values`` to ``fill`` where ``valid`` (``values`` without ``axis``) is False, in
    place; returns ``values``."""
    mask = np.expand_dims(~np.asarray(valid, dtype=bool), axis)
    np.copyto(values, np.asarray(fill, dtype=values.dtype), where=mask)
    return values


def ignore_invalid(
    seg: np.ndarray, valid: np.ndarray | None, ignore_index: int = IGNORE_INDEX, where: str = ''
) -> np.ndarray:
    """``seg[~valid] = ignore_index`` in place (nothing when ``valid`` is None); the shapes
    must agree (``where`` names the label in the error)."""
    if valid is None:
        return seg
    if tuple(valid.shape) != tuple(seg.shape[:2]):
        raise ValueError(
            f'{where or "label"}: is {seg.shape[0]}x{seg.shape[1]} but its image validity mask '
            f'is {valid.shape[0]}x{valid.shape[1]}; the label and the image must share a grid'
        )
    seg[~np.asarray(valid, dtype=bool)] = ignore_index
    return seg


def combine_valid(masks: list[np.ndarray | None]) -> np.ndarray | None:
    """The pixels valid in every mask of ``masks`` (None entries skipped; None if all are)."""
    out = None
    for m in masks:
        if m is not None:
            out = m.copy() if out is None else out & m
    return out
