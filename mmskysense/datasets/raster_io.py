"""The one raster reader: opening, windowed and decimated reads, ground boxes, whole small files.

Every transform and tool reads rasters through this module, so that every failure names the
file and says what was expected (``RasterError``), the nodata mask travels with the pixels, and
the memory of a read is bounded by what it returns, not by the raster:

* ``open_raster``: a file that is missing, empty, not a raster or truncated is refused with a
  message starting with its path;
* ``read_window``: whole pixels of a window, or every ``step``-th of them (a decimated read by
  GDAL: the pixel under the centre of each ``step x step`` cell), with their validity;
* ``GroundWindowReader``: a ground box of any file at an output size, through that file's own
  transform, so that several grids (HR, Sentinel-2, Sentinel-1, dates of a series) are aligned by
  ground windows. Why not ``rasterio.read(out_shape=...)`` alone: GDAL's 1:1 fast path truncates
  fractional windows (the S2 window of an HR-aligned box is fractional), and its averaging reads
  mix nodata into the validity of a block. Instead the output pixel centres are mapped to the
  file's pixels exactly: views shrunk by ``s >= 2`` are anti-aliased by averaging ``floor(s)``
  blocks of valid pixels (from an overview when the file has one), then sampled bilinearly;
  labels take the pixel under each output centre;
* ``read_raster`` / ``raster_shape``: whole small files (downstream datasets) as ``H x W x C``.

File handles are opened lazily in the process that reads and dropped after a fork: GDAL's file
offsets are shared between forked processes, so a handle must never cross into a DataLoader
worker (``RasterHandleCache``).
"""

import contextlib
import math
import os
import os.path as osp
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

Box = tuple[float, float, float, float]  # (minx, miny, maxx, maxy) in CRS units
Span = tuple[int, int]  # [start, stop) of rows or columns
Block = tuple[np.ndarray, np.ndarray, int, int]  # values, validity, row and column offsets
LABEL_IGNORE = 255
_RESAMPLING = ('nearest', 'bilinear', 'cubic', 'average')
_TIFF_MAGIC = (b'II*\x00', b'MM\x00*', b'II+\x00', b'MM\x00+')


class RasterError(ValueError):
    """A raster that cannot be opened or read as expected; the message starts with its path.

    Args:
        message: what is wrong and what was expected.
        path: the file.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class MissingRasterError(RasterError, FileNotFoundError):
    """The raster file does not exist."""


def _reason(err: BaseException) -> str:
    """GDAL's own words: rasterio's 'See previous exception' messages keep them in the cause."""
    text = str(err)
    cause = err.__cause__ or err.__context__
    if cause is not None and 'previous exception' in text:
        text = str(cause)
    return text


def open_raster(
    path: str, expected: str = 'a GeoTIFF', check_complete: bool = False, **kwargs: Any
) -> Any:
    """Open ``path`` with rasterio, or raise a ``RasterError`` naming it.

    Args:
        path: the file.
        expected: what the file should be, for the messages (e.g. ``'the input scene, a GeoTIFF'``).
        check_complete: also refuse a GeoTIFF whose blocks end beyond the end of the file
            (a truncated download or copy), before any pixel is read. Costs one look-up per block.
        kwargs: passed to ``rasterio.open`` (``overview_level``, ...).
    """
    import rasterio
    from rasterio.errors import RasterioError

    if not osp.exists(path):
        raise MissingRasterError(f'{path}: file does not exist (expected {expected})', path)
    if osp.isdir(path):
        raise RasterError(f'{path}: is a folder, expected {expected}', path)
    size = osp.getsize(path)
    if size == 0:
        raise RasterError(f'{path}: file is empty (0 bytes); expected {expected}', path)
    try:
        src = rasterio.open(path, **kwargs)
    except RasterioError as err:
        with open(path, 'rb') as f:
            is_tiff = f.read(4) in _TIFF_MAGIC
        what = (
            'not a readable TIFF (corrupt or truncated header?)'
            if is_tiff
            else 'not a raster GDAL can read'
        )
        raise RasterError(f'{path}: {what} (expected {expected}): {_reason(err)}', path) from err
    if check_complete:
        try:
            check_complete_tiff(src, path, size, expected)
        except BaseException:
            src.close()
            raise
    return src


def check_complete_tiff(src: Any, path: str, size: int | None = None, expected: str = '') -> None:
    """Refuse a (Geo)TIFF whose blocks (strips or tiles) end beyond the end of the file."""
    if src.driver != 'GTiff':
        return
    size = osp.getsize(path) if size is None else size
    bh, bw = src.block_shapes[0]
    ny, nx = math.ceil(src.height / bh), math.ceil(src.width / bw)
    bands = [1] if src.interleaving is not None and src.interleaving.name == 'pixel' else None
    end = 0
    for band in bands or range(1, src.count + 1):
        for y in range(ny):
            for x in range(nx):
                offset = src.get_tag_item(f'BLOCK_OFFSET_{x}_{y}', 'TIFF', bidx=band)
                if offset:  # sparse blocks have none
                    length = src.get_tag_item(f'BLOCK_SIZE_{x}_{y}', 'TIFF', bidx=band)
                    end = max(end, int(offset) + int(length or 0))
    if end > size:
        suffix = f' (expected {expected})' if expected else ''
        raise RasterError(
            f'{path}: truncated: its TIFF blocks end at byte {end} but the file has {size} '
            f'bytes{suffix}',
            path,
        )


@contextlib.contextmanager
def gdal_cache(mb: int) -> Iterator[None]:
    """Bound GDAL's block cache (by default 5% of RAM, filled by every pixel decoded)."""
    import rasterio

    with rasterio.Env(GDAL_CACHEMAX=int(mb) * 2**20):
        yield


def mask_kinds(src: Any) -> tuple[str, ...]:
    """Per band: ``'all_valid'``, ``'nodata'`` (a nodata value) or ``'mask'`` (internal or
    sidecar mask, alpha)."""
    from rasterio.enums import MaskFlags

    names = []
    for flags in src.mask_flag_enums:
        if flags == [MaskFlags.all_valid]:
            names.append('all_valid')
        elif flags == [MaskFlags.nodata]:
            names.append('nodata')
        else:
            names.append('mask')
    return tuple(names)


def _validity(
    src: Any,
    data: np.ndarray,
    bands: Sequence[int],
    window: Any,
    kinds: Sequence[str],
    rule: str,
    out_shape: tuple[int, int] | None,
) -> np.ndarray:
    """``h x w``: True where every band (``rule='all'``) or some band (``'any'``) holds data."""
    from rasterio.enums import Resampling

    combine = np.logical_and if rule == 'all' else np.logical_or
    valid = None
    for i, band in enumerate(bands):
        kind = kinds[band - 1]
        if kind == 'nodata':
            # GDAL's nodata mask band would read the pixels a second time: compare here
            nodata = src.nodatavals[band - 1]
            if np.isnan(nodata):
                ok = np.ones(data.shape[-2:], dtype=bool)  # NaN: the finiteness test below
            else:
                ok = data[i] != np.asarray(nodata).astype(data.dtype)
        elif kind == 'mask':
            ok = (
                src.read_masks(
                    band, window=window, out_shape=out_shape, resampling=Resampling.nearest
                )
                > 0
            )
        else:
            ok = np.ones(data.shape[-2:], dtype=bool)
        if np.issubdtype(data.dtype, np.floating):
            ok = ok & np.isfinite(data[i])
        valid = ok if valid is None else combine(valid, ok)
    return valid


def read_window(
    src: Any,
    bands: Sequence[int],
    rows: Span,
    cols: Span,
    path: str | None = None,
    step: int | tuple[int, int] = 1,
    valid: str = 'all',
    kinds: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Values ``C x h x w`` (the file's dtype) and validity ``h x w`` of a window.

    Args:
        src: an open rasterio dataset.
        bands: 1-based bands, in output order.
        rows, cols: ``[start, stop)`` of the window, whole pixels inside the raster.
        path: named in errors (default: the dataset's name).
        step: ``> 1`` reads every ``step``-th pixel (GDAL's nearest-neighbour decimated read:
            the pixel under the centre of each ``step x step`` cell, i.e. offset ``step // 2``);
            the window's sides must be multiples of ``step``; ``(step_y, step_x)`` per axis.
        valid: ``'all'``: a pixel is valid when every band holds data; ``'any'``: some band.
        kinds: ``mask_kinds(src)``, when the caller has it cached.
    """
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    path = path or src.name
    h, w = rows[1] - rows[0], cols[1] - cols[0]
    window = Window(cols[0], rows[0], w, h)
    sy, sx = (step, step) if isinstance(step, int) else step
    out_shape = None
    kwargs = {}
    if sy > 1 or sx > 1:
        if h % sy or w % sx:
            raise ValueError(f'window {h} x {w} is not a whole number of {sy} x {sx} px cells')
        out_shape = (h // sy, w // sx)
        kwargs = dict(out_shape=(len(bands), *out_shape), resampling=Resampling.nearest)
    try:
        data = src.read(list(bands), window=window, **kwargs)
        ok = _validity(src, data, bands, window, kinds or mask_kinds(src), valid, out_shape)
    except RasterioError as err:
        raise RasterError(
            f'{path}: read failed at rows {rows[0]}..{rows[1]}, cols {cols[0]}..{cols[1]} '
            f'(corrupt or truncated file?): {_reason(err)}',
            path,
        ) from err
    return data, ok


def read_decimated(
    src: Any,
    bands: Sequence[int],
    out_shape: tuple[int, int],
    resampling: str = 'average',
    path: str | None = None,
    window: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole raster (or ``window``) resampled by GDAL to ``out_shape``, e.g. for a preview,
    with the dataset mask (``h x w``, True where some band holds data) read the same way."""
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError

    path = path or src.name
    try:
        data = src.read(
            list(bands),
            window=window,
            out_shape=(len(bands), *out_shape),
            resampling=_resampling(resampling),
        )
        mask = src.dataset_mask(window=window, out_shape=out_shape, resampling=Resampling.nearest)
    except RasterioError as err:
        raise RasterError(
            f'{path}: read failed (corrupt or truncated file?): {_reason(err)}', path
        ) from err
    return data, mask > 0


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

    def get(self, path: str, overview_level: int | None = None) -> Any:
        """The open dataset for ``path`` (or its overview ``overview_level``, 0 = the first
        reduced level); a ``RasterError`` naming it if it is missing or unreadable."""
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
        kwargs = {} if overview_level is None else dict(overview_level=overview_level)
        src = open_raster(path, **kwargs)
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
        """``mask_kinds(src)``, looked up once per file (rasterio builds enums on every call)."""
        kinds = self._mask_kinds.get(id(src))
        if kinds is None:
            kinds = self._mask_kinds[id(src)] = mask_kinds(src)
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
    """WKT of a CRS string (``EPSG:32633`` or WKT)."""
    return _crs_from_string(crs).to_wkt()


def crs_name(crs: Any) -> str:
    """``EPSG:<code>`` of a rasterio CRS when it has one, else its WKT (``'none'`` for None)."""
    if crs is None:
        return 'none'
    epsg = crs.to_epsg()
    return f'EPSG:{epsg}' if epsg else crs.to_wkt()


def check_north_up(src: Any, path: str) -> None:
    """Refuse a rotated raster or one whose rows do not run north to south."""
    t = src.transform
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        raise RasterError(
            f'{path}: transform {tuple(t)[:6]} is not north-up; expected no '
            f'rotation and a negative y pixel size (warp it with gdalwarp)',
            path,
        )


def check_raster(
    src: Any,
    path: str,
    bands: Sequence[int],
    crs: str | None,
    box: Box,
    crs_ok: set[str] | None = None,
    crs_owner: str = 'the sample',
) -> None:
    """Refuse a raster whose CRS, orientation, band count or extent do not fit ``box``.

    ``crs`` None skips the CRS check. ``crs_ok``: CRS strings this open handle already matched
    (comparing CRSs costs ~0.1 ms and a sample makes a hundred reads); updated in place.
    """
    if crs is None or (crs_ok is not None and crs in crs_ok):
        pass
    elif src.crs is None or src.crs != _crs_from_string(crs):
        raise RasterError(
            f'{path}: CRS {crs_name(src.crs)} differs from {crs_owner} CRS {crs}; all inputs '
            f'must share one CRS (reproject with gdalwarp -t_srs)',
            path,
        )
    elif crs_ok is not None:
        crs_ok.add(crs)
    check_north_up(src, path)
    if max(bands) > src.count or min(bands) < 1:
        raise RasterError(
            f'{path}: has {src.count} bands, expected at least {max(bands)} '
            f'(bands {list(bands)} of this frame)',
            path,
        )
    left, bottom, right, top = src.bounds
    t = src.transform
    # a thousandth of a pixel of slack absorbs float rounding in the boxes
    tol_x, tol_y = abs(t.a) * 1e-3, abs(t.e) * 1e-3
    if (
        box[0] < left - tol_x
        or box[2] > right + tol_x
        or box[1] < bottom - tol_y
        or box[3] > top + tol_y
    ):
        raise RasterError(
            f'{path}: extent {tuple(round(v, 3) for v in src.bounds)} does not cover the '
            f'requested ground box {tuple(round(v, 3) for v in box)} (the extents of the '
            f'inputs do not overlap as expected)',
            path,
        )


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
            raise RasterError(
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


# ------------------------------------------------------------------- whole small files


def _resampling(name: str):
    from rasterio.enums import Resampling

    if name not in _RESAMPLING:
        raise ValueError(f'resampling must be one of {_RESAMPLING}, got {name!r}')
    return getattr(Resampling, name)


def read_raster(
    path: str,
    bands: Sequence[int] | None = None,
    out_shape: tuple[int, int] | None = None,
    resampling: str = 'bilinear',
    expected_count: int | None = None,
) -> np.ndarray:
    """Read ``bands`` (1-based, in the given order; all when None) of ``path`` as ``H x W x C``.

    Multispectral downstream data comes as one multi-band file per image (fMoW-Sentinel, Planet,
    DynamicEarthNet Sentinel-2) or as one file per band at several resolutions (BigEarthNet-S2);
    both end up as a channels-last array so that the usual OpenMMLab geometric transforms apply.

    Args:
        path: a raster file rasterio can open.
        bands: 1-based band indices to read, in the order wanted in the output.
        out_shape: ``(h, w)`` to resample to on read (rasterio's decimated/upsampled read),
            None for the file's own grid.
        resampling: rasterio resampling used when ``out_shape`` differs from the file's grid.
        expected_count: when given, the file must have exactly this many bands.
    """
    from rasterio.errors import RasterioError

    with open_raster(path, expected='a raster image') as src:
        if expected_count is not None and src.count != expected_count:
            raise ValueError(f'{path} has {src.count} bands, expected {expected_count}')
        indexes = list(bands) if bands is not None else list(range(1, src.count + 1))
        bad = [b for b in indexes if not 1 <= b <= src.count]
        if bad:
            raise ValueError(f'{path} has {src.count} bands; cannot read bands {bad} (1-based)')
        kwargs = {}
        if out_shape is not None and tuple(out_shape) != (src.height, src.width):
            kwargs = dict(
                out_shape=(len(indexes), int(out_shape[0]), int(out_shape[1])),
                resampling=_resampling(resampling),
            )
        try:
            data = src.read(indexes, **kwargs)
        except RasterioError as err:
            raise RasterError(
                f'{path}: read failed (corrupt or truncated file?): {_reason(err)}', path
            ) from err
    return np.ascontiguousarray(data.transpose(1, 2, 0))


def raster_shape(path: str) -> tuple[int, int, int]:
    """``(height, width, band count)`` of a raster file."""
    with open_raster(path, expected='a raster image') as src:
        return src.height, src.width, src.count


def raster_bounds(path: str) -> tuple[str, tuple[float, float, float, float], float] | None:
    """``(crs, (minx, miny, maxx, maxy), pixel size)`` of a georeferenced raster, None when the
    file has no CRS (then its ground extent is unknown)."""
    import rasterio

    if not osp.isfile(path):
        raise FileNotFoundError(f'raster file not found: {path}')
    with rasterio.open(path) as src:
        if src.crs is None:
            return None
        b = src.bounds
        return src.crs.to_string(), (b.left, b.bottom, b.right, b.top), max(src.res)


def read_raster_window(
    path: str,
    bounds: Sequence[float],
    bounds_crs: str | None = None,
    bands: Sequence[int] | None = None,
    out_shape: tuple[int, int] | None = None,
    resampling: str = 'bilinear',
    tolerance: float = 1.0,
) -> np.ndarray:
    """Read ``bands`` of ``path`` over the ground box ``bounds`` (minx, miny, maxx, maxy, in
    ``bounds_crs`` or the raster's CRS) as ``H x W x C``.

    The box must lie inside the raster (within ``tolerance`` of its pixels): a raster that does
    not cover it is an error naming the file, not a read padded with zeros.
    """
    import rasterio
    from rasterio.warp import transform_bounds
    from rasterio.windows import from_bounds

    if not osp.isfile(path):
        raise FileNotFoundError(f'raster file not found: {path}')
    with rasterio.open(path) as src:
        if src.crs is None:
            raise ValueError(f'{path} has no CRS: cannot find the ground box {tuple(bounds)}')
        box = tuple(bounds)
        if bounds_crs is not None and rasterio.crs.CRS.from_user_input(bounds_crs) != src.crs:
            box = transform_bounds(bounds_crs, src.crs, *box)
        tol = tolerance * max(src.res)
        b = src.bounds
        if (
            box[0] < b.left - tol
            or box[1] < b.bottom - tol
            or box[2] > b.right + tol
            or box[3] > b.top + tol
        ):
            raise ValueError(
                f'{path} covers {(b.left, b.bottom, b.right, b.top)} ({src.crs}), which does not '
                f"contain the sample's ground box {tuple(round(v, 2) for v in box)}"
            )
        window = from_bounds(*box, transform=src.transform)
        indexes = list(bands) if bands is not None else list(range(1, src.count + 1))
        bad = [i for i in indexes if not 1 <= i <= src.count]
        if bad:
            raise ValueError(f'{path} has {src.count} bands; cannot read bands {bad} (1-based)')
        h = int(round(window.height)) if out_shape is None else int(out_shape[0])
        w = int(round(window.width)) if out_shape is None else int(out_shape[1])
        data = src.read(
            indexes,
            window=window,
            out_shape=(len(indexes), h, w),
            resampling=_resampling(resampling),
            boundless=True,
            fill_value=0,
        )
    return np.ascontiguousarray(data.transpose(1, 2, 0))
