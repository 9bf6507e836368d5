"""Sliding windows for cutting large tiles (iSAID, Potsdam) into training patches."""

from collections.abc import Iterator

import numpy as np


def window_starts(length: int, size: int, stride: int) -> list[int]:
    """Start offsets of windows of ``size`` every ``stride`` covering ``[0, length)``.

    The last window is moved back to end at the border instead of running past it, so every
    patch is full-size (when ``length >= size``) and every pixel is covered.
    """
    if size <= 0 or stride <= 0:
        raise ValueError(f'size and stride must be positive, got {size}, {stride}')
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


def iter_windows(
    height: int, width: int, size: int, stride: int
) -> Iterator[tuple[int, int, int, int]]:
    """``(y0, x0, y1, x1)`` of the windows covering a ``height x width`` image."""
    for y in window_starts(height, size, stride):
        for x in window_starts(width, size, stride):
            yield y, x, min(y + size, height), min(x + size, width)


def colours_to_ids(rgb: np.ndarray, palette: list[list[int]], unknown: int = 255) -> np.ndarray:
    """Map an ``H x W x 3`` colour-coded label to class ids (``unknown`` where no colour fits)."""
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    out = np.full(rgb.shape[:2], unknown, dtype=np.uint8)
    for idx, (r, g, b) in enumerate(palette):
        out[codes == ((r << 16) | (g << 8) | b)] = idx
    return out
