"""Per-process handles of open rasters (fork-safe) and the bound on GDAL's block cache.

File handles are opened lazily in the process that reads and dropped after a fork: GDAL's file
offsets are shared between forked processes, so a handle must never cross into a DataLoader
worker.
"""

import contextlib
import os
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from .open import open_raster
from .window import mask_kinds


@contextlib.contextmanager
def gdal_cache(mb: int) -> Iterator[None]:
    """Bound GDAL's block cache (by default 5% of RAM, filled by every pixel decoded)."""
    import rasterio

    with rasterio.Env(GDAL_CACHEMAX=int(mb) * 2**20):
        yield


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
        reduced level); a ``GeoSampleError`` naming it if it is missing or unreadable."""
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
