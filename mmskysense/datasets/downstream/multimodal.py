"""What the multi-modal downstream datasets (BEN-MM, Dyna.-MM, PASTIS-MM) share.

A multi-modal sample carries ``modalities``: name -> what to read, in one of two forms that
``LoadMultiModalImages`` understands:

* a single acquisition: ``dict(path=<raster>)`` or ``dict(band_paths=[<raster per band>])``,
  optionally ``window_bounds`` / ``window_crs`` (the sample's ground box: the raster is read over
  that box only);
* a series: ``dict(paths=[<raster per date>], dates=['YYYY-MM-DD', ...])``, or
  ``dict(array=<.npy file, T x C x H x W>, dates=[...])`` (PASTIS); ``select_dates`` (indices)
  fixes the dates read instead of the loader's choice;

and ``missing_modalities``: names the release lacks for this sample; the loader gives them a
placeholder and ``modality_mask`` False, and the model masks them out (docs/multimodal.md).
"""

import datetime
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


def closest_date(dates: Sequence[str], target: str) -> int:
    """Index of the date of ``dates`` closest to ``target`` (both ``YYYY-MM-DD``)."""
    day = datetime.date.fromisoformat(target)
    gaps = [abs((datetime.date.fromisoformat(str(d)[:10]) - day).days) for d in dates]
    return min(range(len(gaps)), key=gaps.__getitem__)
