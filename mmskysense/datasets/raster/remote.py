"""Raster paths that are not local files: the one place a path is normalised for GDAL.

A raster path may be a local file, an ``http(s)://`` URL or a ``/vsicurl/`` path to a
cloud-optimised GeoTIFF (COG), or any other GDAL virtual path (``/vsis3/``, ``/vsizip/``...).
``gdal_path`` turns ``https://x/y.tif`` into ``/vsicurl/https://x/y.tif``, so GDAL reads it
with HTTP range requests, one block at a time, as it reads a local file's blocks; errors keep
naming the path as the user gave it. ``os.path`` checks apply to local files only
(``is_virtual``); ``raster_exists`` is the existence check for both kinds.

GDAL's network and cache settings are its configuration options; ``RemoteOptions`` states the
ones that matter for remote COGs, with defaults for reading many windows of a few files, and
sets them for a block of code (``env()``) or for the process and its workers (``apply()``).
"""

import contextlib
import os
import os.path as osp
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_URL = re.compile(r'^https?://', re.IGNORECASE)
_HTTP_STATUS = re.compile(r'HTTP (?:response )?code:?\s*(\d{3})', re.IGNORECASE)


def is_url(path: Any) -> bool:
    """An ``http://`` or ``https://`` URL."""
    return isinstance(path, str) and bool(_URL.match(path))


def is_remote(path: Any) -> bool:
    """A raster read over HTTP: a URL or a ``/vsicurl/`` path."""
    return is_url(path) or (isinstance(path, str) and path.startswith('/vsicurl/'))


def is_virtual(path: Any) -> bool:
    """Not a local file (a URL or any GDAL ``/vsi...`` path): ``os.path`` cannot check it."""
    return is_url(path) or (isinstance(path, str) and path.startswith('/vsi'))


def gdal_path(path: str | os.PathLike) -> str:
    """The path GDAL opens: a URL through ``/vsicurl/``, a local path made absolute (for
    VRTs written elsewhere), a ``/vsi...`` path as it is."""
    path = os.fspath(path)
    if is_url(path):
        return '/vsicurl/' + path
    if is_virtual(path):
        return path
    return osp.abspath(path)


def join_path(root: str, path: str) -> str:
    """``path`` relative to ``root`` (a folder or a URL prefix); an absolute path or a URL
    is kept as it is."""
    if is_virtual(path) or osp.isabs(path):
        return path
    if is_virtual(root):
        return root.rstrip('/') + '/' + path
    return osp.normpath(osp.join(root, path))


def raster_exists(path: str) -> bool:
    """A local file that exists, or a virtual path GDAL can open (one request for a URL)."""
    if not is_virtual(path):
        return osp.isfile(path)
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(gdal_path(path)):
            return True
    except RasterioError:
        return False


def http_status(message: str) -> int | None:
    """The HTTP status in a GDAL error message (``HTTP response code: 404``), if any."""
    m = _HTTP_STATUS.search(message)
    return int(m.group(1)) if m else None


def remote_failure(path: str, reason: str) -> str:
    """Why a remote raster could not be opened, in words, from GDAL's message."""
    status = http_status(reason)
    if status is not None:
        return f'the server answered HTTP {status}'
    if 'curl error' in reason.lower():
        return f'the server cannot be reached ({reason})'
    return reason


@dataclass
class RemoteOptions:
    """GDAL's settings for rasters read over HTTP (docs/data_format.md, Remote rasters).

    Args:
        max_retry: ``GDAL_HTTP_MAX_RETRY``: retries of a request that failed with a
            transient status (429, 502, 503, 504) or a network error.
        retry_delay: ``GDAL_HTTP_RETRY_DELAY``: seconds before the first retry (doubled each
            time).
        timeout: ``GDAL_HTTP_TIMEOUT``: seconds before a request is given up; None: GDAL's.
        cache_mb: ``GDAL_CACHEMAX``: GDAL's decoded-block cache in MiB; None: GDAL's default
            (5% of RAM). The scene tools' memory bound counts it.
        vsi_cache: ``VSI_CACHE``: keep the bytes fetched from each file in memory, so that
            blocks shared by neighbouring windows are fetched once.
        vsi_cache_mb: ``VSI_CACHE_SIZE`` per open file, MiB.
        readdir: ``GDAL_DISABLE_READDIR_ON_OPEN``: ``'EMPTY_DIR'`` (default) stops GDAL from
            listing the file's folder on open (one request fewer; a URL has no listing);
            ``'FALSE'`` lets it look for sidecar files (``.ovr``, ``.msk``).
        allowed_extensions: ``CPL_VSIL_CURL_ALLOWED_EXTENSIONS``: when given, GDAL requests
            only URLs ending in one of them (e.g. ``('.tif', '.tiff', '.TIF')``); a
            pre-signed URL (``...tif?X-Amz-...``) ends otherwise, so the default is all.
    """

    max_retry: int = 3
    retry_delay: float = 1.0
    timeout: float | None = None
    cache_mb: int | None = None
    vsi_cache: bool = True
    vsi_cache_mb: int = 25
    readdir: str = 'EMPTY_DIR'
    allowed_extensions: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.max_retry < 0 or self.retry_delay < 0:
            raise ValueError('max_retry and retry_delay must be >= 0')
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f'timeout must be > 0 seconds, got {self.timeout}')
        if self.cache_mb is not None and self.cache_mb < 1:
            raise ValueError(f'cache_mb must be >= 1 MiB, got {self.cache_mb}')
        if self.vsi_cache_mb < 1:
            raise ValueError(f'vsi_cache_mb must be >= 1 MiB, got {self.vsi_cache_mb}')
        if self.readdir not in ('EMPTY_DIR', 'TRUE', 'FALSE'):
            raise ValueError(
                f"readdir must be 'EMPTY_DIR', 'TRUE' or 'FALSE', got {self.readdir!r}"
            )

    @staticmethod
    def add_arguments(parser: Any) -> None:
        """The command-line flags of these settings (``--http-retries``...), for the tools."""
        group = parser.add_argument_group('remote rasters (http(s):// and /vsicurl/ COGs)')
        group.add_argument(
            '--http-retries', type=int, default=3, help='GDAL_HTTP_MAX_RETRY (default 3)'
        )
        group.add_argument(
            '--http-retry-delay',
            type=float,
            default=1.0,
            help='GDAL_HTTP_RETRY_DELAY: seconds before the first retry (default 1)',
        )
        group.add_argument(
            '--http-timeout', type=float, default=None, help="GDAL_HTTP_TIMEOUT (default GDAL's)"
        )
        group.add_argument(
            '--gdal-cache-mb',
            type=int,
            default=None,
            help="GDAL_CACHEMAX: GDAL's block cache, MiB (default GDAL's, 5%% of RAM)",
        )
        group.add_argument(
            '--vsi-cache-mb',
            type=int,
            default=25,
            help='VSI_CACHE_SIZE: bytes fetched kept per open remote file, MiB (0: no cache)',
        )
        group.add_argument(
            '--http-extensions',
            default=None,
            help='CPL_VSIL_CURL_ALLOWED_EXTENSIONS: comma-separated, e.g. .tif,.tiff (default '
            'any URL)',
        )

    @classmethod
    def from_args(cls, args: Any) -> 'RemoteOptions':
        """The settings of the flags of ``add_arguments``."""
        ext = tuple(e for e in (args.http_extensions or '').split(',') if e) or None
        return cls(
            max_retry=args.http_retries,
            retry_delay=args.http_retry_delay,
            timeout=args.http_timeout,
            cache_mb=args.gdal_cache_mb,
            vsi_cache=args.vsi_cache_mb > 0,
            vsi_cache_mb=max(args.vsi_cache_mb, 1),
            allowed_extensions=ext,
        )

    def gdal_options(self) -> dict[str, str | int]:
        """The GDAL configuration options these settings stand for (``GDAL_CACHEMAX`` in
        bytes, an int: rasterio requires it so)."""
        opts = dict(
            GDAL_HTTP_MAX_RETRY=str(self.max_retry),
            GDAL_HTTP_RETRY_DELAY=f'{self.retry_delay:g}',
            VSI_CACHE='TRUE' if self.vsi_cache else 'FALSE',
            VSI_CACHE_SIZE=str(self.vsi_cache_mb * 2**20),
            GDAL_DISABLE_READDIR_ON_OPEN=self.readdir,
        )
        if self.timeout is not None:
            opts['GDAL_HTTP_TIMEOUT'] = f'{self.timeout:g}'
        if self.cache_mb is not None:
            opts['GDAL_CACHEMAX'] = self.cache_mb * 2**20
        if self.allowed_extensions:
            opts['CPL_VSIL_CURL_ALLOWED_EXTENSIONS'] = ','.join(self.allowed_extensions)
        return opts

    @contextlib.contextmanager
    def env(self) -> Iterator[None]:
        """These settings for the rasters opened inside the block (this process)."""
        import rasterio

        with rasterio.Env(**self.gdal_options()):
            yield

    def apply(self) -> None:
        """These settings as environment variables, which GDAL reads: for this process and
        the DataLoader workers it starts (training configs; a setting already in the
        environment is left as the user set it)."""
        for key, value in self.gdal_options().items():
            os.environ.setdefault(key, str(value))
