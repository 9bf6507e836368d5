"""What the multi-modal downstream datasets (BEN-MM, Dyna.-MM, PASTIS-MM) share.

A multi-modal sample carries ``modalities``: name -> what to read, in one of two forms that
``LoadMultiModalImages`` understands:

* a single acquisition: ``dict(path=<raster>)`` or ``dict(band_paths=[<raster per band>])``,
  optionally ``window_bounds`` / ``window_crs`` (the sample's ground box: the raster is read over
  that box only);
* a series: ``dict(paths=[<raster per date>], dates=['YYYY-MM-DD', ...])``, or
  ``dict(array=<.npy file, T x C x H x W>, dates=[...])`` (PASTIS).

and ``missing_modalities``: names the release lacks for this sample; the loader gives them a
placeholder and ``modality_mask`` False, and the model masks them out (docs/multimodal.md).
"""

from collections.abc import Sequence


def select_modalities(owner: str, modalities: Sequence[str], allowed: Sequence[str]) -> tuple:
    """``modalities`` as a tuple, checked to be a non-empty subset of ``allowed``."""
    unknown = [m for m in modalities if m not in allowed]
    if unknown or not modalities:
        raise ValueError(
            f'{owner}: modalities must be a non-empty subset of {tuple(allowed)}, '
            f'got {tuple(modalities)}'
        )
    return tuple(modalities)
