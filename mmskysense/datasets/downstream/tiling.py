"""Helpers of the patch converters (iSAID, Potsdam); the windows come from the one tiler."""

import numpy as np

from ..tiling import iter_windows, window_starts  # noqa: F401  (the converters' import path)


def colours_to_ids(rgb: np.ndarray, palette: list[list[int]], unknown: int = 255) -> np.ndarray:
    """Map an ``H x W x 3`` colour-coded label to class ids (``unknown`` where no colour fits)."""
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    out = np.full(rgb.shape[:2], unknown, dtype=np.uint8)
    for idx, (r, g, b) in enumerate(palette):
        out[codes == ((r << 16) | (g << 8) | b)] = idx
    return out
