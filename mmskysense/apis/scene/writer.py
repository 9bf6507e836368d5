"""The class-map file: a cloud-optimised GeoTIFF written without a half-written state.

Pixels arrive window by window (in any order) into a temporary tiled GeoTIFF beside the
destination (deflate level 1); when every pixel is there, GDAL's COG driver
copies it into a second temporary file (deflate, 512 px tiles, nearest-neighbour overviews, so a
GIS opens large maps at any zoom), which is renamed onto the destination. A failure removes
both temporary files: the destination is either complete or untouched.

Band 1 ``class``: the class index (uint8), with the palette as its colour table and the class
names in the ``CLASSES`` tag; band 2 ``confidence`` (optional): the blended probability of that
class in percent (0-100). Both hold ``nodata`` (255) where the output is undefined (where the
reference input holds no data; for a series, in some or in every date: the ``NODATA_RULE`` tag
says which).
"""

import os
import os.path as osp
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from mmskysense.utils.atomic_files import publish

#: the value written where the output is undefined
DEFAULT_NODATA = 255


class ClassMapWriter:
    """Writes a class map (and optionally its confidence) to ``dst_path`` as a COG.

    Args:
        dst_path: the destination GeoTIFF.
        height, width, crs, transform: the output grid.
        num_classes: classes must be ``0..num_classes-1``, below ``nodata``.
        confidence: add the confidence band.
        nodata: the value of undefined pixels.
        class_names, palette: stored in the file (tag ``CLASSES``, colour table of band 1).
        blocksize: the COG's tile size.
        nodata_rule: where the output is undefined, in words (tag ``NODATA_RULE``).
    """

    def __init__(
        self,
        dst_path: str,
        height: int,
        width: int,
        crs: Any,
        transform: Any,
        num_classes: int,
        confidence: bool = False,
        nodata: int = DEFAULT_NODATA,
        class_names: Sequence[str] | None = None,
        palette: Sequence[Sequence[int]] | None = None,
        blocksize: int = 512,
        nodata_rule: str = 'no data in the reference input',
    ) -> None:
        import rasterio

        if not 0 < num_classes <= 255 or not num_classes <= nodata <= 255:
            raise ValueError(
                f'num_classes must be in 1..255 and at most nodata={nodata} (<= 255), got '
                f'{num_classes}'
            )
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f'{len(class_names)} class names for {num_classes} classes')
        self.dst_path = dst_path
        self.nodata = nodata
        self.confidence = confidence
        self.class_names = list(class_names) if class_names is not None else None
        self.palette = [tuple(int(v) for v in c) for c in palette] if palette else None
        self.blocksize = blocksize
        self.nodata_rule = nodata_rule
        self.crs = crs
        dst_dir = osp.dirname(osp.abspath(dst_path))
        os.makedirs(dst_dir, exist_ok=True)
        stem = osp.basename(dst_path)
        fd, self.raw_path = tempfile.mkstemp(prefix=f'.{stem}.', suffix='.raw.partial', dir=dst_dir)
        os.close(fd)
        fd, self.cog_path = tempfile.mkstemp(prefix=f'.{stem}.', suffix='.cog.partial', dir=dst_dir)
        os.close(fd)
        profile = dict(
            driver='GTiff',
            height=height,
            width=width,
            count=2 if confidence else 1,
            dtype='uint8',
            crs=crs,
            transform=transform,
            nodata=nodata,
        )
        if height >= 256 and width >= 256:
            profile.update(tiled=True, blockxsize=256, blockysize=256)
        # fast compression keeps the temporary small; a block written in parts is read back
        # and rewritten by GDAL when it left the cache in between (the COG copy compacts it)
        profile.update(compress='deflate', zlevel=1)
        try:
            self._dst = rasterio.open(self.raw_path, 'w', **profile)
        except BaseException:
            self._remove()
            raise

    def write(
        self, row: int, col: int, classes: np.ndarray, confidence: np.ndarray | None = None
    ) -> None:
        """Write ``classes`` (``h x w`` uint8) and its confidence at ``(row, col)``."""
        from rasterio.windows import Window

        h, w = classes.shape
        window = Window(col, row, w, h)
        self._dst.write(classes, 1, window=window)
        if self.confidence:
            self._dst.write(confidence, 2, window=window)

    def commit(self) -> str:
        """Complete the file: COG with overviews, then renamed onto ``dst_path``."""
        import rasterio.shutil

        try:
            self._dst.set_band_description(1, 'class')
            if self.confidence:
                self._dst.set_band_description(2, 'confidence')
            tags = dict(NODATA_RULE=self.nodata_rule)
            if self.crs is None:  # a scene without georeference: say what the grid is
                from .pixel_space import PIXEL_NOTE

                tags['GEOREFERENCE'] = f'none: the pixel grid of the input; {PIXEL_NOTE}'
            if self.class_names:
                tags['CLASSES'] = ','.join(self.class_names)
            if self.confidence:
                tags['CONFIDENCE'] = 'blended probability of the class, percent'
            self._dst.update_tags(**tags)
            if self.palette:
                cmap = {i: (*c[:3], 255) for i, c in enumerate(self.palette)}
                cmap[self.nodata] = (0, 0, 0, 0)
                self._dst.write_colormap(1, cmap)
            self._dst.close()
            rasterio.shutil.copy(
                self.raw_path,
                self.cog_path,
                driver='COG',
                COMPRESS='DEFLATE',
                BLOCKSIZE=self.blocksize,
                OVERVIEW_RESAMPLING='NEAREST',
            )
            publish(self.cog_path, self.dst_path)  # mkstemp made it private
        except BaseException:
            self.abort()
            raise
        self._remove()
        return self.dst_path

    def abort(self) -> None:
        """Remove every temporary file; the destination is left untouched."""
        if not self._dst.closed:
            self._dst.close()
        self._remove()

    def _remove(self) -> None:
        for path in (self.raw_path, self.cog_path):
            if osp.exists(path):
                os.remove(path)
