"""``GroundWindowReader``: the one ground-box reader, used by pretraining crops, multi-modal
downstream loading and the scene loop alike (docs/interfaces.md, The raster package).

A ground box of any file is read at an output size through that file's own transform, so that
several grids (HR, Sentinel-2, Sentinel-1, dates of a series) are aligned by ground windows. Why
not ``rasterio.read(out_shape=...)``: GDAL's 1:1 fast path truncates fractional windows (the S2
window of an HR-aligned box is fractional), and its averaging reads mix nodata into the validity
of a block. Instead the output pixel centres are mapped to the file's pixels exactly: views
shrunk by ``s >= 2`` are anti-aliased by averaging ``floor(s)`` blocks of valid pixels (from an
overview when the file has one), then sampled bilinearly; labels take the pixel under each
output centre.
"""

import math
from collections.abc import MutableMapping, Sequence
from typing import Any

import numpy as np

from .cache import RasterHandleCache, default_handle_cache
from .checks import Box, check_raster
from .errors import GeoSampleError
from .window import Span, read_window

Block = tuple[np.ndarray, np.ndarray, int, int]  # values, validity, row and column offsets
LABEL_IGNORE = 255


def _block_mean(x: np.ndarray, py: int, px: int) -> np.ndarray:
    """Mean over ``py x px`` blocks of the last two axes; partial blocks at the far edges are
    averaged over their pixels. Callers only use ratios of two such means, so the divisor
    cancels."""
    if py == 1 and px == 1:
        return x
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(x))
    t = t.reshape(-1, 1, *t.shape[-2:])
    pooled = F.avg_pool2d(t, (py, px), stride=(py, px), ceil_mode=True)
    return pooled.reshape(*x.shape[:-2], *pooled.shape[-2:]).numpy()


def _linear_taps(coords: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left/right sample indices and right weights of 1-D linear interpolation at ``coords``
    (pixel-centre coordinates), clamped to ``[0, n - 1]``."""
    i0 = np.floor(coords)
    w1 = (coords - i0).astype(np.float32)
    i0 = i0.astype(np.int64)
    return np.clip(i0, 0, n - 1), np.clip(i0 + 1, 0, n - 1), w1


def _whole_pixels(c0: float, r0: float, c1: float, r1: float, out_h: int, out_w: int) -> bool:
    """Is the fractional pixel box a window of whole pixels of the output's size?"""
    corners = (c0, r0, c1, r1)
    return all(abs(v - round(v)) < 1e-6 for v in corners) and (
        round(r1) - round(r0),
        round(c1) - round(c0),
    ) == (out_h, out_w)


class GroundWindowReader:
    """Reads ground boxes from rasters at a chosen output size, through each file's transform.

    Args:
        handles: the per-process handle cache.
        mode: ``'window'`` reads only the pixels around each box (or the block given to
            ``prefetch``); ``'whole'`` reads each raster in full once per reader and slices it.
        use_overviews: in ``'window'`` mode, read views shrunk by 2 or more from overviews.
        max_block_samples: the most pixels per side averaged for one anti-aliasing block; a
            wider block is averaged over this many pixels per side, taken by a decimated read.
        read_budget_mb: the most memory one read may allocate; a larger read is refused before
            anything is allocated.
        valid: ``'all'`` (every band must hold data) or ``'any'`` (some band).
        crs_owner: whose CRS ``crs`` is, in errors (``'the sample'``, ``"the scene's"``).
    """

    def __init__(
        self,
        handles: RasterHandleCache | None = None,
        mode: str = 'window',
        use_overviews: bool = True,
        max_block_samples: int = 8,
        read_budget_mb: float = 512,
        valid: str = 'all',
        crs_owner: str = 'the sample',
    ) -> None:
        if mode not in ('window', 'whole'):
            raise ValueError(f"mode must be 'window' or 'whole', got {mode!r}")
        if valid not in ('all', 'any'):
            raise ValueError(f"valid must be 'all' or 'any', got {valid!r}")
        if max_block_samples < 1:
            raise ValueError(f'max_block_samples must be >= 1, got {max_block_samples}')
        self.handles = handles if handles is not None else default_handle_cache()
        self.mode = mode
        self.use_overviews = use_overviews
        self.max_block_samples = max_block_samples
        self.read_budget = read_budget_mb * 2**20
        self.valid = valid
        self.crs_owner = crs_owner
        # (path, bands) -> (data, valid, row offset, col offset): blocks read once and sliced
        self._blocks: MutableMapping[tuple[str, tuple[int, ...]], Block] = {}

    # ------------------------------------------------------------------------------ helpers
    def _source(
        self, path: str, bands: Sequence[int], crs: str | None, box: Box
    ) -> tuple[Any, tuple[float, float, float, float]]:
        src = self.handles.get(path)
        check_raster(src, path, bands, crs, box, self.handles.crs_ok(src), self.crs_owner)
        return src, self.pixel_box(src, box)

    @staticmethod
    def pixel_box(src: Any, box: Box) -> tuple[float, float, float, float]:
        """Fractional ``(col0, row0, col1, row1)`` of a ground box on a north-up raster."""
        t = src.transform
        c0, c1 = (box[0] - t.c) / t.a, (box[2] - t.c) / t.a
        r0, r1 = (box[3] - t.f) / t.e, (box[1] - t.f) / t.e
        return c0, r0, c1, r1

    def _check_budget(self, path: str, nbytes: float, what: str) -> None:
        if nbytes > self.read_budget:
            raise GeoSampleError(
                f'{path}: {what} needs {nbytes / 2**20:.0f} MiB, over the read budget of '
                f'{self.read_budget / 2**20:.0f} MiB (read_budget_mb); give the file overviews '
                f'(gdaladdo -r average), ask for a smaller output or raise the budget',
                path,
            )

    def _read(
        self,
        src: Any,
        path: str,
        bands: Sequence[int],
        rows: Span,
        cols: Span,
        native: bool = True,
        step: tuple[int, int] = (1, 1),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Values and validity of a window (every ``step``-th pixel), from a prefetched block
        when it holds it (blocks are native resolution: ``native=False`` for an overview)."""
        key = (path, tuple(bands))
        block = self._blocks.get(key)
        if block is None and self.mode == 'whole' and native:
            item = np.dtype(src.dtypes[bands[0] - 1]).itemsize
            self._check_budget(
                path, src.height * src.width * (len(bands) * item + 1), 'reading it whole'
            )
            data, valid = read_window(
                src,
                bands,
                (0, src.height),
                (0, src.width),
                path,
                valid=self.valid,
                kinds=self.handles.mask_kinds(src),
            )
            block = self._blocks[key] = (data, valid, 0, 0)
        if block is not None and native:
            data, valid, r_off, c_off = block
            inside = (
                rows[0] >= r_off
                and cols[0] >= c_off
                and rows[1] <= r_off + valid.shape[0]
                and cols[1] <= c_off + valid.shape[1]
            )
            if inside:
                # the pixel under each cell's centre, as GDAL's decimated read picks it
                sy, sx = step
                rs = slice(rows[0] - r_off + sy // 2, rows[1] - r_off, sy)
                cs = slice(cols[0] - c_off + sx // 2, cols[1] - c_off, sx)
                return data[:, rs, cs], valid[rs, cs]
        return read_window(
            src,
            bands,
            rows,
            cols,
            path,
            step=step,
            valid=self.valid,
            kinds=self.handles.mask_kinds(src),
        )

    @staticmethod
    def _centres(start: float, stop: float, n: int) -> np.ndarray:
        return start + (np.arange(n, dtype=np.float64) + 0.5) * ((stop - start) / n)

    def _block_grid(self, extent: float, out: int) -> tuple[int, int, int]:
        """Block side ``b`` (``floor`` of the shrink), sampling step and samples per block."""
        block = max(1, int(extent / out))
        step = max(1, math.ceil(block / self.max_block_samples))
        per_block = block // step
        return per_block * step, step, per_block

    # ----------------------------------------------------------------------------- reading
    def prefetch(
        self, path: str, bands: Sequence[int], box: Box, crs: str | None = None, margin: int = 4
    ) -> None:
        """Read once the window of ``box`` (plus ``margin`` pixels), e.g. the union of a
        sample's views on a small S2 frame: later reads inside it are slices, not file reads.
        A window over the read budget is not prefetched (reads then go to the file)."""
        src, (c0, r0, c1, r1) = self._source(path, bands, crs, box)
        rows = (max(0, int(np.floor(r0)) - margin), min(src.height, int(np.ceil(r1)) + margin))
        cols = (max(0, int(np.floor(c0)) - margin), min(src.width, int(np.ceil(c1)) + margin))
        if self.mode == 'whole':
            rows, cols = (0, src.height), (0, src.width)
        item = np.dtype(src.dtypes[bands[0] - 1]).itemsize
        if (rows[1] - rows[0]) * (cols[1] - cols[0]) * (len(bands) * item + 1) > self.read_budget:
            return
        data, valid = read_window(
            src, bands, rows, cols, path, valid=self.valid, kinds=self.handles.mask_kinds(src)
        )
        self._blocks[(path, tuple(bands))] = (data, valid, rows[0], cols[0])

    def read_image(
        self,
        path: str,
        bands: Sequence[int],
        box: Box,
        out_size: tuple[int, int],
        crs: str | None = None,
        keep_dtype: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Imagery ``C x H x W`` and its valid mask ``H x W`` for a ground box.

        Values are float32, 0 where invalid: the bilinear interpolation of the means of the
        valid pixels of the blocks under the output pixels (a block is one pixel for views not
        shrunk by 2 or more). A view pixel is valid when the block under its centre holds a
        valid pixel. A box that is a whole-pixel window of the file at its own size is read as
        it is; with ``keep_dtype`` its values then keep the file's dtype (nodata as stored).
        """
        src, (c0, r0, c1, r1) = self._source(path, bands, crs, box)
        out_h, out_w = out_size
        if _whole_pixels(c0, r0, c1, r1, out_h, out_w):
            rows, cols = (round(r0), round(r1)), (round(c0), round(c1))
            if rows[0] >= 0 and cols[0] >= 0 and rows[1] <= src.height and cols[1] <= src.width:
                data, valid = self._read(src, path, bands, rows, cols)
                if keep_dtype:
                    return data, valid
                out = data.astype(np.float32)
                np.copyto(out, np.float32(0), where=~valid[None])  # NaN * 0 would stay NaN
                return out, valid
        shrink = min((c1 - c0) / out_w, (r1 - r0) / out_h)
        native = True
        if self.mode == 'window' and self.use_overviews and shrink >= 2:
            # an overview's pixel is the average of a 2^k block (GDAL excludes nodata): read
            # the coarsest level that is still at least as fine as the view, through its own
            # geotransform, so the geometry stays exact and far fewer pixels are decoded
            factors = src.overviews(bands[0])
            usable = [i for i, f in enumerate(factors) if f <= shrink]
            if usable:
                level = max(usable, key=lambda i: factors[i])
                src = self.handles.get(path, overview_level=level)
                c0, r0, c1, r1 = self.pixel_box(src, box)
                native = False
        xs, ys = self._centres(c0, c1, out_w), self._centres(r0, r1, out_h)
        px, sx, per_x = self._block_grid(c1 - c0, out_w)
        py, sy, per_y = self._block_grid(r1 - r0, out_h)
        rows = (max(0, int(np.floor(r0)) - py), min(src.height, int(np.ceil(r1)) + py))
        cols = (max(0, int(np.floor(c0)) - px), min(src.width, int(np.ceil(c1)) + px))
        if rows[1] - rows[0] < sy or cols[1] - cols[0] < sx:  # a sliver: read every pixel
            (px, sx, per_x), (py, sy, per_y) = (px, 1, px), (py, 1, py)
        # whole cells of the decimated read: the far edge may lose fewer than `step` pixels
        rows = (rows[0], rows[0] + (rows[1] - rows[0]) // sy * sy)
        cols = (cols[0], cols[0] + (cols[1] - cols[0]) // sx * sx)
        samples = (rows[1] - rows[0]) // sy * ((cols[1] - cols[0]) // sx)
        item = np.dtype(src.dtypes[bands[0] - 1]).itemsize
        self._check_budget(
            path,
            samples * (len(bands) * (item + 8) + 6) + out_h * out_w * len(bands) * 24,
            f'reading a {out_h} x {out_w} view of ground box {tuple(round(v, 3) for v in box)}',
        )
        raw, valid = self._read(src, path, bands, rows, cols, native, (sy, sx))
        data = raw.astype(np.float32)
        np.copyto(data, np.float32(0), where=~valid[None])  # NaN * 0 would stay NaN
        counts = _block_mean(valid.astype(np.float32), per_y, per_x)
        mean = _block_mean(data, per_y, per_x)
        any_valid = counts > 0
        np.divide(mean, counts, out=mean, where=any_valid[None])
        mean[:, ~any_valid] = 0
        weight = any_valid.astype(np.float32)
        # block i covers window columns [i * px, (i + 1) * px): its centre is (i + 0.5) px
        bx, by = (xs - cols[0]) / px, (ys - rows[0]) / py
        x0, x1, wx = _linear_taps(bx - 0.5, mean.shape[-1])
        y0, y1, wy = _linear_taps(by - 0.5, mean.shape[-2])
        sums = mean[..., x0] * (1 - wx) + mean[..., x1] * wx
        counts = weight[..., x0] * (1 - wx) + weight[..., x1] * wx
        sums = sums[..., y0, :] * (1 - wy)[:, None] + sums[..., y1, :] * wy[:, None]
        counts = counts[y0, :] * (1 - wy)[:, None] + counts[y1, :] * wy[:, None]
        near_r = np.clip(np.floor(by).astype(np.int64), 0, any_valid.shape[0] - 1)
        near_c = np.clip(np.floor(bx).astype(np.int64), 0, any_valid.shape[1] - 1)
        out_valid = any_valid[np.ix_(near_r, near_c)] & (counts > 0)
        out = np.zeros(sums.shape, dtype=np.float32)
        np.divide(sums, counts, out=out, where=out_valid[None])
        return out, out_valid

    def read_label(
        self,
        path: str,
        bands: Sequence[int],
        box: Box,
        out_size: tuple[int, int],
        crs: str | None = None,
    ) -> np.ndarray:
        """Nearest-neighbour label ``H x W`` int64 (the pixel under each output centre);
        nodata and outside become 255. A shrunk view reads only the rows it needs."""
        src, (c0, r0, c1, r1) = self._source(path, bands[:1], crs, box)
        out_h, out_w = out_size
        xs, ys = self._centres(c0, c1, out_w), self._centres(r0, r1, out_h)
        col_lo = max(0, int(np.floor(c0)))
        col_hi = min(src.width, max(col_lo + 1, int(np.ceil(c1))))
        row_lo = max(0, int(np.floor(r0)))
        row_hi = min(src.height, max(row_lo + 1, int(np.ceil(r1))))
        near_r = np.clip(np.floor(ys).astype(np.int64), row_lo, row_hi - 1)
        near_c = np.clip(np.floor(xs).astype(np.int64), col_lo, col_hi - 1) - col_lo
        item = np.dtype(src.dtypes[bands[0] - 1]).itemsize
        if (row_hi - row_lo) < 2 * out_h:
            self._check_budget(
                path, (row_hi - row_lo) * (col_hi - col_lo) * (item + 1), 'reading a label view'
            )
            raw, valid = self._read(src, path, bands[:1], (row_lo, row_hi), (col_lo, col_hi))
            pick = np.ix_(near_r - row_lo, near_c)
            label = raw[0][pick].astype(np.int64)
            label[~valid[pick]] = LABEL_IGNORE
            return label
        # shrunk: one source row per output row, read row by row (memory: one row of the box)
        self._check_budget(path, (col_hi - col_lo) * (item + 1) * 2, 'reading a label row')
        label = np.empty((out_h, out_w), dtype=np.int64)
        for r in np.unique(near_r):
            raw, valid = self._read(src, path, bands[:1], (int(r), int(r) + 1), (col_lo, col_hi))
            row = raw[0, 0, near_c].astype(np.int64)
            row[~valid[0, near_c]] = LABEL_IGNORE
            label[near_r == r] = row
        return label
