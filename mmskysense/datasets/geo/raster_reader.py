"""The pretraining side of the one raster reader (``mmskysense.datasets.raster_io``).

``WindowReader`` reads one sample's ground boxes through ``GroundWindowReader`` (windowed and
decimated reads, overviews, the nodata mask travelling with the pixels, a read budget), applies
the modality's scaling, and reports every problem as a ``GeoSampleError`` of the sample, which
``GeoMultiModalDataset(on_bad_sample='skip')`` catches.
"""

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..raster_io import (
    Box,
    GroundWindowReader,
    RasterError,
    RasterHandleCache,
    crs_to_wkt,
    default_handle_cache,
)
from .errors import GeoSampleError
from .scaling import ModalityScaling

__all__ = ['WindowReader', 'RasterHandleCache', 'crs_to_wkt', 'default_handle_cache', 'Box']


@contextlib.contextmanager
def sample_errors(sample_id: str | None) -> Iterator[None]:
    """Report a ``RasterError`` as a ``GeoSampleError`` of the sample (same message)."""
    try:
        yield
    except RasterError as err:
        raise GeoSampleError(str(err), path=err.path, sample_id=sample_id) from err


class WindowReader:
    """Reads ground boxes from GeoTIFFs for one sample.

    Args:
        handles: the per-process handle cache.
        mode: ``'window'`` reads only the pixels around each box (or the block given to
            ``prefetch``); ``'whole'`` reads each raster in full once per reader and slices it.
        sample_id: named in error messages.
        use_overviews: in ``'window'`` mode, read views shrunk by 2 or more from overviews.
        max_block_samples, read_budget_mb: see ``GroundWindowReader``.
    """

    def __init__(
        self,
        handles: RasterHandleCache | None = None,
        mode: str = 'window',
        sample_id: str | None = None,
        use_overviews: bool = True,
        max_block_samples: int = 8,
        read_budget_mb: float = 512,
    ) -> None:
        self.reader = GroundWindowReader(
            handles if handles is not None else default_handle_cache(),
            mode,
            use_overviews,
            max_block_samples,
            read_budget_mb,
            valid='all',
        )
        self.sample_id = sample_id

    def prefetch(
        self, path: str, bands: Sequence[int], crs: str, box: Box, margin: int = 4
    ) -> None:
        """Read once the window of ``box`` (plus ``margin`` pixels), e.g. the union of a
        sample's views on a small S2 frame: later reads inside it are slices, not file reads."""
        with sample_errors(self.sample_id):
            self.reader.prefetch(path, bands, box, crs, margin)

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

        Averaging happens on stored values; scaling (and dB conversion) is applied last.
        """
        with sample_errors(self.sample_id):
            out, valid = self.reader.read_image(path, bands, box, out_size, crs)
        return scaling.apply(out, valid), valid

    def read_label(
        self, path: str, bands: Sequence[int], crs: str, box: Box, out_size: tuple[int, int]
    ) -> np.ndarray:
        """Nearest-neighbour label ``H x W`` int64; nodata and outside become 255."""
        with sample_errors(self.sample_id):
            return self.reader.read_label(path, bands, box, out_size, crs)

    def transform_of(self, path: str) -> Any:
        """The geotransform of ``path`` (opened through the handle cache)."""
        with sample_errors(self.sample_id):
            return self.reader.handles.get(path).transform
