"""Reading the pixels of one ground box from a GeoTIFF, at a chosen output size.

Why not ``rasterio.read(out_shape=...)``: GDAL's 1:1 fast path truncates fractional windows,
and the S2 window of an HR-aligned box is fractional (10 m pixels vs 0.3125 m ones); GDAL's
averaging reads are also slower here than pooling in torch. Instead the output pixel centres are
mapped to the source grid exactly:

* a window of whole source pixels around the box is read (``window`` mode), or sliced from a
  block read once per sample (``prefetch``: the union of a sample's views on a small S2/S1
  frame; ``whole`` mode: the whole raster, the benchmark's baseline);
* a view shrunk by ``s >= 2`` is anti-aliased: source pixels are averaged in
  ``floor(s) x floor(s)`` blocks (or read from the file's overview whose 2^k blocks GDAL has
  already averaged, through the overview's own geotransform), then sampled bilinearly. Averages
  and interpolation skip invalid pixels, so nodata never leaks into a valid value; a view pixel
  is valid when the block under its centre holds a valid pixel (for unshrunk views: the
  nearest pixel);
* labels: the nearest source pixel (the one holding the output pixel's centre).

File handles are opened lazily in the process that reads and dropped after a fork: GDAL's file
offsets are shared between forked processes, so a handle must never cross into a DataLoader
worker (``RasterHandleCache``).
"""

import os
from collections import OrderedDict
from collections.abc import MutableMapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from .errors import GeoSampleError
from .scaling import ModalityScaling

Box = tuple[float, float, float, float]
Span = tuple[int, int]  # [start, stop) of rows or columns
Block = tuple[np.ndarray, np.ndarray, int, int]  # values, validity, row and column offsets
LABEL_IGNORE = 255


class RasterHandleCache:
    """A per-process LRU of open rasterio datasets.

    Args:
        max_open: how many files stay open at once in one process.
    """

    def __init__(self, max_open: int = 128) -> None:
        self.max_open = max_open
        self._pid = os.getpid()
        self._handles: OrderedDict[str, Any] = OrderedDict()
        # facts about open handles, by id(): dropped with the handle, so ids are never stale
        self._mask_kinds: dict[int, tuple[str, ...]] = {}
        self._crs_ok: dict[int, set[str]] = {}

    def get(
        self, path: str, sample_id: str | None = None, overview_level: int | None = None
    ) -> Any:
        """The open dataset for ``path`` (or its overview ``overview_level``, 0 = the first
        reduced level); a clear GeoSampleError if it is missing or unreadable."""
        import rasterio
        from rasterio.errors import RasterioError

        if os.getpid() != self._pid:
            # inherited through fork: forget (do not close) the parent's handles
            self._handles = OrderedDict()
            self._mask_kinds = {}
            self._crs_ok = {}
            self._pid = os.getpid()
        key = path if overview_level is None else f'{path}#overview{overview_level}'
        src = self._handles.get(key)
        if src is not None:
            self._handles.move_to_end(key)
            return src
        if not os.path.exists(path):
            raise GeoSampleError(f'{path}: file does not exist', path=path, sample_id=sample_id)
        try:
            if overview_level is None:
                src = rasterio.open(path)
            else:
                src = rasterio.open(path, overview_level=overview_level)
        except RasterioError as err:
            raise GeoSampleError(
                f'{path}: not a readable GeoTIFF (corrupt or truncated?): {err}',
                path=path,
                sample_id=sample_id,
            ) from err
        self._handles[key] = src
        if len(self._handles) > self.max_open:
            _, old = self._handles.popitem(last=False)
            self._mask_kinds.pop(id(old), None)
            self._crs_ok.pop(id(old), None)
            old.close()
        return src

    def crs_ok(self, src: Any) -> set[str]:
        """The CRS strings an open handle has matched (see ``check_raster``)."""
        return self._crs_ok.setdefault(id(src), set())

    def mask_kinds(self, src: Any) -> tuple[str, ...]:
        """Per band: ``'all_valid'``, ``'nodata'`` (a nodata value) or ``'mask'`` (internal or
        sidecar mask, alpha); looked up once per file (rasterio builds enums on every call)."""
        kinds = self._mask_kinds.get(id(src))
        if kinds is None:
            from rasterio.enums import MaskFlags

            names = []
            for flags in src.mask_flag_enums:
                if flags == [MaskFlags.all_valid]:
                    names.append('all_valid')
                elif flags == [MaskFlags.nodata]:
                    names.append('nodata')
                else:
                    names.append('mask')
            kinds = self._mask_kinds[id(src)] = tuple(names)
        return kinds

    def close(self) -> None:
        """Close every handle this process opened."""
        if os.getpid() == self._pid:
            for src in self._handles.values():
                src.close()
        self._handles = OrderedDict()
        self._mask_kinds = {}
        self._crs_ok = {}

    def __getstate__(self) -> dict[str, Any]:
        # a pickled copy (spawned worker) starts with no handles
        return dict(max_open=self.max_open)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)


_DEFAULT_CACHE = RasterHandleCache()


def default_handle_cache() -> RasterHandleCache:
    """The process-wide cache used when a reader is not given one."""
    return _DEFAULT_CACHE


@lru_cache(maxsize=64)
def _crs_from_string(crs: str) -> Any:
    from rasterio.crs import CRS

    return CRS.from_user_input(crs)


def crs_to_wkt(crs: str) -> str:
    """WKT of an index CRS string (``EPSG:32633`` or WKT)."""
    return _crs_from_string(crs).to_wkt()


def check_raster(
    src: Any,
    path: str,
    bands: Sequence[int],
    crs: str,
    box: Box,
    sample_id: str | None = None,
    crs_ok: set[str] | None = None,
) -> None:
    """Refuse a raster whose CRS, orientation, band count or extent do not fit the sample.

    ``crs_ok``: CRS strings this open handle already matched (comparing CRSs costs ~0.1 ms
    and a sample makes a hundred reads); updated in place.
    """
    if crs_ok is not None and crs in crs_ok:
        pass
    elif src.crs is None or src.crs != _crs_from_string(crs):
        found = src.crs.to_string() if src.crs is not None else 'none'
        raise GeoSampleError(
            f'{path}: CRS {found} differs from the sample CRS {crs}; all modalities must share '
            f'one CRS (reproject with gdalwarp -t_srs)',
            path=path,
            sample_id=sample_id,
        )
    elif crs_ok is not None:
        crs_ok.add(crs)
    t = src.transform
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        raise GeoSampleError(
            f'{path}: transform {tuple(t)[:6]} is not north-up; expected no '
            f'rotation and a negative y pixel size (warp it with gdalwarp)',
            path=path,
            sample_id=sample_id,
        )
    if max(bands) > src.count:
        raise GeoSampleError(
            f'{path}: has {src.count} bands, expected at least {max(bands)} '
            f'(bands {list(bands)} of this frame)',
            path=path,
            sample_id=sample_id,
        )
    left, bottom, right, top = src.bounds
    # a thousandth of a pixel of slack absorbs float rounding in the index's bounds
    tol_x, tol_y = abs(t.a) * 1e-3, abs(t.e) * 1e-3
    if (
        box[0] < left - tol_x
        or box[2] > right + tol_x
        or box[1] < bottom - tol_y
        or box[3] > top + tol_y
    ):
        raise GeoSampleError(
            f'{path}: extent {tuple(round(v, 3) for v in src.bounds)} does not cover the '
            f"requested ground box {tuple(round(v, 3) for v in box)} (extents of the sample's "
            f'files do not overlap as the index says)',
            path=path,
            sample_id=sample_id,
        )


def _validity(
    src: Any, data: np.ndarray, bands: Sequence[int], window: Any, kinds: Sequence[str]
) -> np.ndarray:
    """``h x w`` True where every band holds data (nodata value, internal mask, NaN)."""
    valid = np.ones(data.shape[-2:], dtype=bool)
    for i, band in enumerate(bands):
        kind = kinds[band - 1]
        if kind == 'nodata':
            # GDAL's nodata mask band would read the pixels a second time: compare here
            nodata = src.nodatavals[band - 1]
            if not np.isnan(nodata):
                valid &= data[i] != np.asarray(nodata).astype(data.dtype)
        elif kind == 'mask':
            valid &= src.read_masks(band, window=window) > 0
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.isfinite(data).all(axis=0)
    return valid


def _read_block(
    src: Any,
    path: str,
    bands: Sequence[int],
    rows: Span,
    cols: Span,
    sample_id: str | None,
    kinds: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Raw values (``C x h x w``) and validity (``h x w``: every band holds data) of a window."""
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    window = Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])
    try:
        data = src.read(list(bands), window=window)
        valid = _validity(src, data, bands, window, kinds)
    except RasterioError as err:
        raise GeoSampleError(
            f'{path}: read failed (corrupt or truncated GeoTIFF?): {err}',
            path=path,
            sample_id=sample_id,
        ) from err
    return data, valid


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


class WindowReader:
    """Reads ground boxes from GeoTIFFs for one sample.

    Args:
        handles: the per-process handle cache.
        mode: ``'window'`` reads only the pixels around each box (or the block given to
            ``prefetch``); ``'whole'`` reads each raster in full once per reader and slices it.
        sample_id: named in error messages.
        use_overviews: in ``'window'`` mode, read views shrunk by 2 or more from overviews.
    """

    def __init__(
        self,
        handles: RasterHandleCache | None = None,
        mode: str = 'window',
        sample_id: str | None = None,
        use_overviews: bool = True,
    ) -> None:
        if mode not in ('window', 'whole'):
            raise ValueError(f"mode must be 'window' or 'whole', got {mode!r}")
        self.handles = handles if handles is not None else default_handle_cache()
        self.mode = mode
        self.use_overviews = use_overviews
        self.sample_id = sample_id
        # (path, bands) -> (data, valid, row offset, col offset): blocks read once and sliced
        self._blocks: MutableMapping[tuple[str, tuple[int, ...]], Block] = {}

    def prefetch(
        self, path: str, bands: Sequence[int], crs: str, box: Box, margin: int = 4
    ) -> None:
        """Read once the window of ``box`` (plus ``margin`` pixels), e.g. the union of a
        sample's views on a small S2 frame: later reads inside it are slices, not file reads."""
        src, (c0, r0, c1, r1) = self._source(path, bands, crs, box)
        rows = (max(0, int(np.floor(r0)) - margin), min(src.height, int(np.ceil(r1)) + margin))
        cols = (max(0, int(np.floor(c0)) - margin), min(src.width, int(np.ceil(c1)) + margin))
        if self.mode == 'whole':
            rows, cols = (0, src.height), (0, src.width)
        data, valid = _read_block(
            src, path, bands, rows, cols, self.sample_id, self.handles.mask_kinds(src)
        )
        self._blocks[(path, tuple(bands))] = (data, valid, rows[0], cols[0])

    def _source(
        self, path: str, bands: Sequence[int], crs: str, box: Box
    ) -> tuple[Any, tuple[float, float, float, float]]:
        src = self.handles.get(path, self.sample_id)
        check_raster(src, path, bands, crs, box, self.sample_id, self.handles.crs_ok(src))
        return src, self._pixel_box(src, box)

    @staticmethod
    def _pixel_box(src: Any, box: Box) -> tuple[float, float, float, float]:
        """Fractional ``(col0, row0, col1, row1)`` of a ground box on a north-up raster."""
        t = src.transform
        c0, c1 = (box[0] - t.c) / t.a, (box[2] - t.c) / t.a
        r0, r1 = (box[3] - t.f) / t.e, (box[1] - t.f) / t.e
        return c0, r0, c1, r1

    def _read(
        self,
        src: Any,
        path: str,
        bands: Sequence[int],
        rows: tuple[int, int],
        cols: tuple[int, int],
        native: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw values and validity of a window, from a prefetched block when it holds it
        (blocks are native resolution: ``native=False`` for an overview's window)."""
        key = (path, tuple(bands))
        block = self._blocks.get(key)
        if block is None and self.mode == 'whole' and native:
            data, valid = _read_block(
                src,
                path,
                bands,
                (0, src.height),
                (0, src.width),
                self.sample_id,
                self.handles.mask_kinds(src),
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
                rs, cs = (
                    slice(rows[0] - r_off, rows[1] - r_off),
                    slice(cols[0] - c_off, cols[1] - c_off),
                )
                return data[:, rs, cs], valid[rs, cs]
        return _read_block(
            src, path, bands, rows, cols, self.sample_id, self.handles.mask_kinds(src)
        )

    @staticmethod
    def _centres(start: float, stop: float, n: int) -> np.ndarray:
        return start + (np.arange(n, dtype=np.float64) + 0.5) * ((stop - start) / n)

    def _read_blocks(
        self,
        src: Any,
        path: str,
        bands: Sequence[int],
        rows: tuple[int, int],
        cols: tuple[int, int],
        py: int,
        px: int,
        native: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Per ``py x px`` block of the window: the mean of its valid pixels (``C x h x w``,
        float32, 0 where none) and whether it holds any valid pixel (``h x w``); also the
        window's top-left pixel."""
        row_lo, col_lo = rows[0], cols[0]
        raw, valid = self._read(src, path, bands, rows, cols, native)
        data = raw.astype(np.float32)
        np.copyto(data, np.float32(0), where=~valid[None])  # NaN * 0 would stay NaN
        counts = _block_mean(valid.astype(np.float32), py, px)
        mean = _block_mean(data, py, px)
        any_valid = counts > 0
        np.divide(mean, counts, out=mean, where=any_valid[None])
        mean[:, ~any_valid] = 0
        return mean, any_valid, row_lo, col_lo

    def read_image(
        self,
        path: str,
        bands: Sequence[int],
        crs: str,
        box: Box,
        out_size: tuple[int, int],
        scaling: ModalityScaling,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scaled imagery ``C x H x W`` float32 (0 where invalid) and its valid mask ``H x W``.

        A view pixel is valid when the source block under its centre holds a valid pixel (for
        views that are not shrunk by 2 or more, a block is one pixel: the nearest pixel).
        Values are the bilinear interpolation of the block means, weighted by block validity;
        scaling (and dB conversion) is applied last, so averaging happens on stored values.
        """
        src, (c0, r0, c1, r1) = self._source(path, bands, crs, box)
        out_h, out_w = out_size
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
                src = self.handles.get(path, self.sample_id, overview_level=level)
                c0, r0, c1, r1 = self._pixel_box(src, box)
                native = False
        xs, ys = self._centres(c0, c1, out_w), self._centres(r0, r1, out_h)
        px = max(1, int((c1 - c0) / out_w))
        py = max(1, int((r1 - r0) / out_h))
        rows = (max(0, int(np.floor(r0)) - py), min(src.height, int(np.ceil(r1)) + py))
        cols = (max(0, int(np.floor(c0)) - px), min(src.width, int(np.ceil(c1)) + px))
        mean, any_valid, row_lo, col_lo = self._read_blocks(
            src, path, bands, rows, cols, py, px, native
        )
        weight = any_valid.astype(np.float32)
        # block i covers window columns [i * px, (i + 1) * px): its centre is (i + 0.5) px
        bx, by = (xs - col_lo) / px, (ys - row_lo) / py
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
        return scaling.apply(out, out_valid), out_valid

    def read_label(
        self, path: str, bands: Sequence[int], crs: str, box: Box, out_size: tuple[int, int]
    ) -> np.ndarray:
        """Nearest-neighbour label ``H x W`` int64; nodata and outside become 255."""
        src, (c0, r0, c1, r1) = self._source(path, bands[:1], crs, box)
        out_h, out_w = out_size
        xs, ys = self._centres(c0, c1, out_w), self._centres(r0, r1, out_h)
        col_lo = max(0, int(np.floor(c0)))
        col_hi = min(src.width, max(col_lo + 1, int(np.ceil(c1))))
        row_lo = max(0, int(np.floor(r0)))
        row_hi = min(src.height, max(row_lo + 1, int(np.ceil(r1))))
        raw, valid = self._read(src, path, bands[:1], (row_lo, row_hi), (col_lo, col_hi))
        near_r = np.clip(np.floor(ys).astype(np.int64) - row_lo, 0, valid.shape[0] - 1)
        near_c = np.clip(np.floor(xs).astype(np.int64) - col_lo, 0, valid.shape[1] - 1)
        label = raw[0][np.ix_(near_r, near_c)].astype(np.int64)
        label[~valid[np.ix_(near_r, near_c)]] = LABEL_IGNORE
        return label
