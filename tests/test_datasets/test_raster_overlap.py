"""The raster package's one overlap rule (``overlap_window``, ``box_overlap``, ``check_covers``)
against windows worked out by hand."""

import numpy as np
import pytest
import rasterio
from helpers.geotiff import write_geotiff

from mmskysense.datasets.raster import (
    GeoSampleError,
    box_overlap,
    check_covers,
    grid_box,
    overlap_window,
)


def _pair(tmp_path):
    # reference: 10 m pixels from (1000, 2000), 20 rows x 30 cols -> x 1000..1300, y 1800..2000
    ref = write_geotiff(tmp_path / 'ref.tif', np.ones((1, 20, 30), np.uint8), 10, (1000, 2000))
    # other: 4 m pixels from (1085, 1975), 40 rows x 50 cols -> x 1085..1285, y 1815..1975
    other = write_geotiff(tmp_path / 'b.tif', np.ones((1, 40, 50), np.uint8), 4, (1085, 1975))
    return ref, other


def test_overlap_window_matches_hand_computation(tmp_path):
    ref, other = _pair(tmp_path)
    with rasterio.open(ref) as a, rasterio.open(other) as b:
        assert tuple(b.bounds) == (1085, 1815, 1285, 1975)
        # by hand: columns whose 10 m span lies in x 1085..1285: col 9 is x 1090..1100 (col 8
        # starts at 1080 < 1085), col 27 is x 1270..1280 (col 28 ends at 1290 > 1285): 9..27;
        # rows in y 1815..1975 (rows run down from 2000): row 3 is y 1970..1960 (row 2 reaches
        # 1980 > 1975), row 17 is y 1830..1820 (row 18 reaches 1810 < 1815): 3..17
        expected = (3, 9, 15, 19)  # (row0, col0, height, width)
        assert overlap_window(a.transform, (a.height, a.width), [tuple(b.bounds)]) == expected
        # the reference alone is its own grid; the order of the extents does not matter
        assert overlap_window(a.transform, (20, 30), []) == (0, 0, 20, 30)
        boxes = [tuple(b.bounds), tuple(a.bounds)]
        assert overlap_window(a.transform, (20, 30), boxes[::-1]) == expected
        assert grid_box(b.transform, (b.height, b.width)) == pytest.approx(tuple(b.bounds))
        assert box_overlap([tuple(a.bounds), tuple(b.bounds)]) == (1085, 1815, 1285, 1975)


def test_overlap_window_edges_and_disjoint_extents():
    from affine import Affine

    t = Affine(10, 0, 1000, 0, -10, 2000)  # 20 x 30 pixels: x 1000..1300, y 1800..2000
    # an edge a hair off a pixel edge (float rounding) counts as on it: cols 2..9, rows 1..4
    box = (1020 - 1e-9, 1950 + 1e-9, 1100 + 1e-9, 1990 - 1e-9)
    assert overlap_window(t, (20, 30), [box]) == (1, 2, 4, 8)
    # less than a whole pixel in common, or none at all: no window
    assert overlap_window(t, (20, 30), [(1021, 1950, 1029, 1990)]) is None
    assert overlap_window(t, (20, 30), [(1400, 1950, 1500, 1990)]) is None
    assert overlap_window(t, (20, 30), [(1010, 1900, 1050, 1950), (1060, 1900, 1090, 1950)]) is None


def test_check_covers_is_the_same_overlap(tmp_path):
    _, other = _pair(tmp_path)
    with rasterio.open(other) as b:
        check_covers(other, b, (1085, 1815, 1285, 1975))  # the whole extent
        check_covers(other, b, (1085 - 4e-4, 1815, 1285, 1975 + 4e-4))  # 1e-4 px out: rounding
        with pytest.raises(GeoSampleError, match='does not cover the requested ground box'):
            check_covers(other, b, (1085 - 0.01, 1815, 1285, 1975))  # 1/400 px out
