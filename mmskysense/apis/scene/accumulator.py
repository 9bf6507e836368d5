"""Blending per-tile class probabilities into a class map, each tile computed exactly once.

Each tile's probabilities are weighted by a window that tapers towards the tile border (pixels
near a tile's edge see less context and count less) and summed with its neighbours'. Tiles
arrive in row-major order; a pixel is final once no later tile touches it:

* within a row of tiles, the columns left of the next tile's start are final for the rows above
  the next row of tiles: the accumulator holds one tile-sized canvas and emits those columns as
  it moves right;
* the rows that the next row of tiles also touches (``overlap`` of them, more where the last
  row was moved back inside the scene) are carried over: their weighted sums go to a strip of
  ``(K + 2) x height x width`` float32 (in memory, or in a temporary file when larger than
  ``carry_mb``) and come back into the canvas when the next row reaches them.

Sums are taken in the same order as blending over the whole scene at once, so the class map is
that of the whole-scene blend, bit for bit. Final pixels get the arg-max class and its blended
probability (the confidence) and go to the writer. The arithmetic is numpy's (float32, the same
operations a torch tensor would take, element by element): an exported model blends without
torch; adapters may hand torch tensors or arrays.
"""

import os
import tempfile
from typing import Any

import numpy as np

from mmskysense.datasets.tiling import Tile, TileGrid

from .inputs import TileBatch
from .writer import ClassMapWriter


def blend_window(size_h: int, size_w: int, overlap: int) -> np.ndarray:
    """A separable float32 weight that ramps linearly over ``overlap`` pixels at each border.

    Strictly positive everywhere, so every pixel of the scene is covered by some weight.
    """

    def ramp(n: int) -> np.ndarray:
        w = np.ones(n, dtype=np.float32)
        m = min(overlap, n // 2)
        if m > 0:
            r = (np.arange(m, dtype=np.float32) + 1) / np.float32(m + 1)
            w[:m] = r
            w[n - m :] = r[::-1]
        return w

    return ramp(size_h)[:, None] * ramp(size_w)[None, :]


def _argmax_classes(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arg-max (uint8, the first of equal maxima, as ``argmax``) and max over the first
    dimension, one class at a time (one pass per class over contiguous planes)."""
    best = probs[0].copy()
    index = np.zeros(probs.shape[1:], dtype=np.uint8)
    for k in range(1, probs.shape[0]):
        index[probs[k] > best] = k
        np.maximum(best, probs[k], out=best)
    return index, best


class CarryStore:
    """A ``channels x height x width`` float32 strip read and written by column ranges; kept
    in memory, or in a temporary file (column-major, explicit reads and writes: the page cache
    does not count as the process's memory) when larger than ``budget`` bytes."""

    def __init__(
        self, channels: int, height: int, width: int, budget: float, folder: str | None = None
    ) -> None:
        self.shape = (channels, height)
        self.column_bytes = channels * height * 4
        self.path = None
        if self.column_bytes * width <= budget:
            self._array = np.zeros((width, channels, height), dtype=np.float32)
        else:
            self._array = None
            fd, self.path = tempfile.mkstemp(suffix='.carry.partial', dir=folder)
            self._fd = fd
            os.ftruncate(fd, self.column_bytes * width)  # reads as zeros until written

    def read(self, c0: int, c1: int) -> np.ndarray:
        if self._array is not None:
            cols = self._array[c0:c1]
        else:
            buf = os.pread(self._fd, self.column_bytes * (c1 - c0), self.column_bytes * c0)
            cols = np.frombuffer(buf, dtype=np.float32).reshape(c1 - c0, *self.shape)
        return cols.transpose(1, 2, 0)

    def write(self, c0: int, data: np.ndarray) -> None:
        """Columns from ``c0`` on: ``channels x h x n``, ``h <= height`` (the rest zero)."""
        channels, height = self.shape
        cols = np.zeros((data.shape[2], channels, height), dtype=np.float32)
        cols[:, :, : data.shape[1]] = data.transpose(2, 0, 1)
        if self._array is not None:
            self._array[c0 : c0 + cols.shape[0]] = cols
        else:
            os.pwrite(self._fd, cols.tobytes(), self.column_bytes * c0)

    def close(self) -> None:
        if self.path is not None:
            os.close(self._fd)
            if os.path.exists(self.path):
                os.remove(self.path)
            self.path = None


class BlendAccumulator:
    """The dense sink of ``run_tiles``: blends tile probabilities and writes the class map.

    Args:
        grid: the tile grid (tiles must arrive in its row-major order; skipped tiles, which hold
            no valid output pixel, may be missing).
        num_classes: ``K``, the probabilities' first dimension.
        writer: receives the final pixels.
        carry_mb: the carry-over strip goes to a temporary file beside the output when larger.
    """

    def __init__(
        self, grid: TileGrid, num_classes: int, writer: ClassMapWriter, carry_mb: float = 256
    ) -> None:
        self.grid, self.k, self.writer = grid, num_classes, writer
        th, tw = grid.tile_h, grid.tile_w
        self.weight = blend_window(th, tw, grid.overlap)
        rows = grid.rows
        # the rows of tile-row i that tile-row i + 1 also touches
        self.carry_h = [max(0, r + th - nxt) for r, nxt in zip(rows, rows[1:])] + [0]
        # channels: K weighted sums, the weight sum, validity
        self.store = None
        if max(self.carry_h) > 0:
            self.store = CarryStore(
                self.k + 2,
                max(self.carry_h),
                grid.width,
                carry_mb * 2**20,
                os.path.dirname(os.path.abspath(writer.dst_path)),
            )
        self.canvas = np.zeros((self.k + 2, th, tw), dtype=np.float32)
        self.row = -1  # the tile-row in the canvas
        self.x_lo = self.x_hi = 0  # the canvas holds columns [x_lo, x_hi)
        self._last_j = -1
        self.tiles_added = 0

    # ------------------------------------------------------------------------ emitting
    def _emit(self, i: int, c0: int, c1: int, canvas: np.ndarray | None) -> None:
        """Columns ``[c0, c1)`` of tile-row ``i``: final rows to the writer, the rest to the
        carry-over strip. ``canvas`` None: a gap (no computed tile), nodata."""
        th = self.grid.tile_h
        row0 = self.grid.rows[i]
        final = th - self.carry_h[i]
        n = c1 - c0
        if canvas is None:
            canvas = np.zeros((self.k + 2, th, n), dtype=np.float32)
        acc, wsum, valid = canvas[: self.k, :final], canvas[self.k, :final], canvas[-1, :final]
        valid = valid > 0
        if bool((valid & (wsum <= 0)).any()):
            raise RuntimeError('the tile grid left valid pixels without a computed tile')
        probs = acc / np.where(wsum > 0, wsum, np.float32(1))
        classes, conf = _argmax_classes(probs)
        # round half to even, as torch.round
        confidence = np.round(conf * np.float32(100)).astype(np.uint8)
        classes[~valid] = self.writer.nodata
        confidence[~valid] = self.writer.nodata
        self.writer.write(row0, c0, classes, confidence)
        if self.carry_h[i] > 0:
            self.store.write(c0, canvas[:, final:])

    def _flush(self, c1: int) -> None:
        """Emit the canvas columns ``[x_lo, c1)`` (a gap where the canvas does not reach)."""
        i = self.row
        held = min(c1, self.x_hi)
        if held > self.x_lo:
            self._emit(i, self.x_lo, held, self.canvas[:, :, : held - self.x_lo])
            keep = self.x_hi - held
            self.canvas[:, :, :keep] = self.canvas[:, :, held - self.x_lo : self.x_hi - self.x_lo]
            self.canvas[:, :, keep:] = 0
            self.x_lo = held
        if c1 > self.x_hi:
            self._emit(i, max(self.x_lo, self.x_hi), c1, None)
            self.canvas[:] = 0
            self.x_lo = self.x_hi = c1

    def _next_row(self) -> None:
        if self.row >= 0:
            self._flush(self.grid.width)
        self.row += 1
        self.canvas[:] = 0
        self.x_lo = self.x_hi = 0

    # -------------------------------------------------------------------------- adding
    def add_tile(self, tile: Tile, probs: Any, valid: np.ndarray) -> None:
        """Blend one tile: ``probs`` ``K x tile_h x tile_w`` (an array, or a CPU tensor),
        ``valid`` ``tile_h x tile_w``."""
        probs = np.asarray(probs, dtype=np.float32)
        if (tile.i, tile.j) <= (self.row, self._last_j):
            raise ValueError(f'tiles must come in row-major order; got {tile} after row {self.row}')
        while self.row < tile.i:
            self._next_row()
        self._flush(tile.col)
        tw = self.grid.tile_w
        start = max(self.x_hi, tile.col)
        end = tile.col + tw
        if start < end and tile.i > 0 and self.carry_h[tile.i - 1] > 0:
            h_in = self.carry_h[tile.i - 1]
            self.canvas[:, :h_in, start - tile.col :] = self.store.read(start, end)[:, :h_in]
        self.x_lo, self.x_hi = tile.col, end
        acc = self.canvas[: self.k]
        acc += probs * self.weight
        self.canvas[self.k] += self.weight
        np.maximum(self.canvas[-1], valid.astype(np.float32), out=self.canvas[-1])
        self._last_j = tile.j
        self.tiles_added += 1

    def add(self, batch: TileBatch, outputs: Any) -> None:
        """The ``TileSink`` interface: ``outputs`` ``N x K x tile_h x tile_w`` probabilities
        (an array, or a CPU tensor)."""
        outputs = np.asarray(outputs, dtype=np.float32)
        expected = (len(batch), self.k, self.grid.tile_h, self.grid.tile_w)
        if tuple(outputs.shape) != expected:
            raise ValueError(f'the model gave {tuple(outputs.shape)}, expected {expected}')
        for n, tile in enumerate(batch.tiles):
            self.add_tile(tile, outputs[n], batch.out_valid[n])

    def finish(self) -> str:
        """Emit what is left and complete the output file; returns its path."""
        while self.row < len(self.grid.rows) - 1:
            self._next_row()
        self._flush(self.grid.width)
        self._close_store()
        return self.writer.commit()

    def abort(self) -> None:
        self._close_store()
        self.writer.abort()

    def _close_store(self) -> None:
        if self.store is not None:
            self.store.close()
