"""The one tiler: windows cover every pixel, keep their size, and serve converters and scenes."""

import numpy as np
import pytest

from mmskysense.datasets.tiling import TileGrid, iter_windows, window_starts

CASES = [
    (100, 37, 32, 8),
    (64, 64, 64, 0),
    (20, 300, 64, 16),
    (513, 512, 128, 32),
    (90, 90, 40, 30),
]


def test_grid_covers_every_pixel_with_full_size_tiles_in_row_major_order():
    for h, w, t, o in CASES:
        grid = TileGrid(h, w, t, o)
        cover = np.zeros((h, w), dtype=int)
        last = (-1, -1)
        for tile in grid:
            assert (tile.height, tile.width) == (min(t, h), min(t, w))
            assert tile.row + tile.height <= h and tile.col + tile.width <= w
            assert (tile.row, tile.col) > last  # row-major
            last = (tile.row, tile.col)
            cover[tile.row : tile.row + tile.height, tile.col : tile.col + tile.width] += 1
        assert cover.min() >= 1, (h, w, t, o)
        assert len(list(grid)) == len(grid) == len(grid.rows) * len(grid.cols)
        # neighbours overlap by at least `overlap` (more where the last one moved back)
        assert all(b - a <= t - o for a, b in zip(grid.rows, grid.rows[1:]))


def test_converter_windows_are_the_grid_tiles():
    for h, w, t, o in CASES:
        grid = TileGrid(h, w, t, o)
        tiles = [(x.row, x.col, x.row + x.height, x.col + x.width) for x in grid]
        assert list(iter_windows(h, w, t, t - o)) == tiles
    assert window_starts(6000, 512, 256)[-1] == 6000 - 512
    assert window_starts(100, 896, 512) == [0]
    assert window_starts(1024, 512, 512) == [0, 512]


def test_bad_grid_arguments():
    with pytest.raises(ValueError, match='overlap'):
        TileGrid(10, 10, 8, 8)
    with pytest.raises(ValueError, match='tile'):
        TileGrid(10, 10, 0, 0)
    with pytest.raises(ValueError, match='pixels'):
        TileGrid(0, 10, 8, 0)
