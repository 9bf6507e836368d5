"""The one tiler: windows over a large image, for dataset converters and scene inference.

Windows of ``size`` start every ``stride`` pixels; the last one is moved back to end at the
border instead of running past it, so every window is full size (when the image is at least
that large) and every pixel is covered. The dataset converters (iSAID, Potsdam, FAIR1M patches)
cut training patches with ``iter_windows``; scene inference runs a model over the ``Tile`` s of a
``TileGrid`` (the same windows, ``stride = tile - overlap``) in row-major order.
"""

from collections.abc import Iterator
from dataclasses import dataclass


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
    """``(y0, x0, y1, x1)`` of the windows covering a ``height x width`` image, row-major."""
    for y in window_starts(height, size, stride):
        for x in window_starts(width, size, stride):
            yield y, x, min(y + size, height), min(x + size, width)


@dataclass(frozen=True)
class Tile:
    """One window of a ``TileGrid``: its index ``(i, j)`` in the grid and its pixels
    ``[row, row + height) x [col, col + width)``."""

    i: int
    j: int
    row: int
    col: int
    height: int
    width: int

    @property
    def rows(self) -> tuple[int, int]:
        return self.row, self.row + self.height

    @property
    def cols(self) -> tuple[int, int]:
        return self.col, self.col + self.width


class TileGrid:
    """The tiles of a ``height x width`` image: ``tile`` px windows overlapping by ``overlap``.

    Every tile has the size ``tile_h x tile_w`` (``tile``, or the image side when smaller).
    Iterating gives the tiles in row-major order, the order in which scene inference computes
    them.
    """

    def __init__(self, height: int, width: int, tile: int, overlap: int) -> None:
        if height <= 0 or width <= 0:
            raise ValueError(f'the image must have pixels, got {height} x {width}')
        if tile <= 0:
            raise ValueError(f'tile must be positive, got {tile}')
        if not 0 <= overlap < tile:
            raise ValueError(f'overlap must be in [0, tile), got {overlap} for tile {tile}')
        self.height, self.width = height, width
        self.tile, self.overlap = tile, overlap
        self.stride = tile - overlap
        self.tile_h, self.tile_w = min(tile, height), min(tile, width)
        self.rows = window_starts(height, self.tile_h, self.stride)
        self.cols = window_starts(width, self.tile_w, self.stride)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    def tile_at(self, i: int, j: int) -> Tile:
        return Tile(i, j, self.rows[i], self.cols[j], self.tile_h, self.tile_w)

    def __iter__(self) -> Iterator[Tile]:
        for i in range(len(self.rows)):
            for j in range(len(self.cols)):
                yield self.tile_at(i, j)

    def __repr__(self) -> str:
        return (
            f'TileGrid(height={self.height}, width={self.width}, tile={self.tile}, '
            f'overlap={self.overlap}: {len(self.rows)} x {len(self.cols)} tiles)'
        )
