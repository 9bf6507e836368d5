"""The map of a multi-label scene classifier: one probability band per class and the label
set, not an arg-max (docs/interfaces.md, The loop and its sinks)."""

import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

import numpy as np

from mmskysense.datasets.tiling import TileGrid
from mmskysense.utils.atomic_files import partial_path, publish

from .inputs import TileBatch


class MultiLabelMapSink:
    """A ``run_tiles`` sink for ``N x K x h x w`` per-class probabilities (sigmoid scores,
    ``ClassifierAdapter`` of a multi-label classifier) into a float32 COG at ``dst_path`` on
    the scene's grid: bands ``1..K`` the probability of each class (``p_<class>``), bands
    ``K+1..2K`` the label set (``label_<class>``: 1 where the probability is at least
    ``threshold``, else 0); NaN where the output is undefined. A tile's pixels take its
    values (tiles do not overlap but where the last tile of a row or column was moved back to
    end at the border; there the later tile's). ``finish`` returns ``dst_path``."""

    def __init__(
        self,
        grid: TileGrid,
        crs: Any,
        transform: Any,
        dst_path: str,
        class_names: Sequence[str],
        threshold: float = 0.5,
        source: str | None = None,
    ) -> None:
        import rasterio

        if not dst_path.lower().endswith(('.tif', '.tiff')):
            raise ValueError(f'{dst_path}: a multi-label map is a .tif GeoTIFF')
        if not 0 <= threshold <= 1:
            raise ValueError(f'threshold must be in [0, 1], got {threshold}')
        self.grid, self.dst_path, self.threshold = grid, dst_path, threshold
        self.class_names, self.source = list(class_names), source
        k = len(self.class_names)
        self._raw = partial_path(dst_path, '.partial.tif')
        self._cog: str | None = None
        self._dst = rasterio.open(
            self._raw,
            'w',
            driver='GTiff',
            height=grid.height,
            width=grid.width,
            count=2 * k,
            dtype='float32',
            crs=crs,
            transform=transform,
            nodata=float('nan'),
            tiled=True,
            blockxsize=256,
            blockysize=256,
            compress='deflate',
            zlevel=1,
        )
        self.tiles = 0

    def add(self, batch: TileBatch, outputs: Any) -> None:
        from rasterio.windows import Window

        probs = np.asarray(outputs)  # an array, or a CPU tensor
        k = len(self.class_names)
        if probs.ndim != 4 or probs.shape[:2] != (len(batch), k):
            raise ValueError(
                f'a multi-label map takes N x {k} x h x w probabilities, got {probs.shape}'
            )
        for tile, p, ok in zip(batch.tiles, probs, batch.out_valid):
            p = p[:, : tile.height, : tile.width].astype(np.float32)
            labels = (p >= self.threshold).astype(np.float32)
            values = np.concatenate([p, labels])
            values[:, ~ok] = np.nan
            self._dst.write(values, window=Window(tile.col, tile.row, tile.width, tile.height))
        self.tiles += len(batch)

    def finish(self) -> str:
        import rasterio.shutil

        for n, name in enumerate(self.class_names):
            self._dst.set_band_description(n + 1, f'p_{name}')
            self._dst.set_band_description(len(self.class_names) + n + 1, f'label_{name}')
        self._dst.update_tags(
            CLASSES=','.join(self.class_names),
            THRESHOLD=str(self.threshold),
            SOURCE=self.source or '',
            CONTENT='multi-label: sigmoid probability per class, then label (p >= threshold)',
        )
        self._dst.close()
        self._cog = partial_path(self.dst_path, '.partial.cog.tif')
        rasterio.shutil.copy(self._raw, self._cog, driver='COG', COMPRESS='DEFLATE')
        publish(self._cog, self.dst_path)
        self._cog = None
        os.remove(self._raw)
        self._raw = None
        return self.dst_path

    def abort(self) -> None:
        if not self._dst.closed:
            self._dst.close()
        for path in (self._raw, self._cog):
            if path is not None and osp.exists(path):
                os.remove(path)
        self._raw = self._cog = None
