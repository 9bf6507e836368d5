"""The one raster reader: errors that name the file, decimated reads, ground boxes, budgets."""

import re

import numpy as np
import pytest
from helpers.geotiff import write_geotiff

from mmskysense.datasets.raster import (
    GroundWindowReader,
    MissingRasterError,
    RasterError,
    RasterHandleCache,
    open_raster,
    read_raster,
    read_window,
)


def _write(path, data, nodata=None, tiled=True, transform=None, **extra):
    block = 64 if tiled else None
    return write_geotiff(
        path, data, transform=transform, nodata=nodata, block=block, compress='deflate', **extra
    )


@pytest.fixture
def broken(tmp_path):
    """One file per broken-raster case, and what its message must say."""
    rng = np.random.default_rng(0)
    good = _write(tmp_path / 'good.tif', rng.integers(0, 255, (3, 256, 256), dtype=np.uint8))
    raw = open(good, 'rb').read()
    cases = {}
    cases['missing'] = (str(tmp_path / 'missing.tif'), 'file does not exist')
    (tmp_path / 'empty.tif').write_bytes(b'')
    cases['empty'] = (str(tmp_path / 'empty.tif'), r'file is empty \(0 bytes\)')
    (tmp_path / 'notes.tif').write_text('these are field notes, not pixels\n' * 20)
    cases['not_raster'] = (str(tmp_path / 'notes.tif'), 'not a raster GDAL can read')
    (tmp_path / 'cut_header.tif').write_bytes(raw[:100])
    cases['cut_header'] = (str(tmp_path / 'cut_header.tif'), 'not a readable TIFF')
    (tmp_path / 'truncated.tif').write_bytes(raw[: len(raw) // 2])
    cases['truncated'] = (str(tmp_path / 'truncated.tif'), 'truncated: its TIFF blocks end')
    return good, cases


def test_open_errors_name_the_file_and_what_was_expected(broken):
    _, cases = broken
    for name, (path, says) in cases.items():
        with pytest.raises(RasterError, match=re.escape(path) + ': ' + says) as info:
            open_raster(path, expected='the test scene', check_complete=True).close()
        assert info.value.path == path
        if name != 'truncated':
            assert 'the test scene' in str(info.value), name
    with pytest.raises(FileNotFoundError):
        open_raster(cases['missing'][0])
    assert issubclass(MissingRasterError, ValueError)


def test_truncated_data_read_names_the_file(broken):
    """Without the completeness check the header opens; the read then fails, naming the file."""
    path = broken[1]['truncated'][0]
    src = open_raster(path)
    with src, pytest.raises(RasterError, match=re.escape(path) + r': read failed at rows 0\.\.256'):
        read_window(src, [1, 2, 3], (0, 256), (0, 256))
    with pytest.raises(RasterError, match=re.escape(path)):
        read_raster(path)


def test_decimated_read_takes_the_pixel_under_each_cell_centre(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(1, 60000, (2, 300, 420), dtype=np.uint16)
    data[:, 10:40, 20:90] = 0
    path = _write(tmp_path / 'a.tif', data, nodata=0)
    with open_raster(path) as src:
        for step, rows, cols in [(3, (6, 297), (9, 417)), ((5, 7), (0, 300), (14, 420))]:
            sy, sx = (step, step) if isinstance(step, int) else step
            values, valid = read_window(src, [2, 1], rows, cols, step=step)
            expected = data[[1, 0], rows[0] + sy // 2 : rows[1] : sy][:, :, cols[0] + sx // 2 :: sx]
            expected = expected[:, :, : (cols[1] - cols[0]) // sx]
            np.testing.assert_array_equal(values, expected)
            np.testing.assert_array_equal(valid, (expected != 0).all(0))
        _, any_valid = read_window(src, [1, 2], (0, 50), (0, 100), valid='any')
        np.testing.assert_array_equal(any_valid, (data[:, :50, :100] != 0).any(0))


def test_strongly_shrunk_view_averages_decimated_samples(tmp_path):
    """A 1280 px box read into 20 px: each 64 px block is averaged over 8 x 8 of its valid
    pixels (those under the centres of its 8 px cells), never reading the others into memory;
    window and whole-raster reads agree."""
    rng = np.random.default_rng(2)
    data = rng.integers(1, 250, (1, 1280, 1280)).astype(np.uint8)
    data[0, 100:700, 300:340] = 0  # nodata
    path = _write(tmp_path / 'b.tif', data, nodata=0)
    box = (500000.0, 4100000.0 - 1280, 500000.0 + 1280, 4100000.0)
    reader = GroundWindowReader(RasterHandleCache(), use_overviews=False, max_block_samples=8)
    out, valid = reader.read_image(path, [1], box, (20, 20))
    samples = data[0, 4::8, 4::8].astype(np.float64).reshape(20, 8, 20, 8)
    ok = samples > 0
    n = ok.sum(axis=(1, 3))
    expected = np.where(n > 0, (samples * ok).sum(axis=(1, 3)) / np.maximum(n, 1), 0)
    np.testing.assert_array_equal(valid, n > 0)
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)
    whole = GroundWindowReader(
        RasterHandleCache(), mode='whole', use_overviews=False, max_block_samples=8
    )
    out_whole, _ = whole.read_image(path, [1], box, (20, 20))
    np.testing.assert_array_equal(out, out_whole)


def test_read_budget_refuses_before_allocating(tmp_path):
    data = np.ones((1, 512, 512), dtype=np.uint8)
    path = _write(tmp_path / 'c.tif', data)
    box = (500000.0, 4100000.0 - 512, 500000.0 + 512, 4100000.0)
    reader = GroundWindowReader(RasterHandleCache(), read_budget_mb=0.01)
    with pytest.raises(RasterError, match=re.escape(path) + r': reading a 256 x 256 view'):
        reader.read_image(path, [1], box, (256, 256))
    whole = GroundWindowReader(RasterHandleCache(), mode='whole', read_budget_mb=0.1)
    with pytest.raises(RasterError, match='reading it whole needs'):
        whole.read_image(path, [1], box, (512, 512))


def test_whole_pixel_box_is_read_as_stored(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.integers(0, 250, (3, 100, 120)).astype(np.uint8)
    path = _write(tmp_path / 'd.tif', data, nodata=0, tiled=False)
    reader = GroundWindowReader(RasterHandleCache(), valid='any')
    box = (500000.0 + 7, 4100000.0 - 57, 500000.0 + 47, 4100000.0 - 12)
    values, valid = reader.read_image(path, [3, 1], box, (45, 40), keep_dtype=True)
    assert values.dtype == np.uint8
    np.testing.assert_array_equal(values, data[[2, 0], 12:57, 7:47])
    np.testing.assert_array_equal(valid, (data[[2, 0], 12:57, 7:47] != 0).any(0))
