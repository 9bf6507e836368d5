"""The reference for large-scene segmentation: the block algorithm mmskysense used before
issue 15, kept verbatim (its own tile grid and blend window), outside the package.

It produced the output by blocks and ran every tile once per block it touched (1.40 tiles per
needed tile at tile 512 / overlap 128 on a 4096 px scene). The benchmark
(benchmarks/bench_large_scene_memory.py) and tests/test_apis compare the new implementation with it:
the class maps must be equal.

Original module docstring:
Semantic segmentation of a GeoTIFF scene of any size, by overlapping tiles.

The scene is never held in memory. It is cut into a global grid of ``tile`` x ``tile`` windows
with stride ``tile - overlap``; each window's class probabilities are weighted by a window that
tapers towards the tile border (so that pixels near a tile's edge, which see less context, count
less) and blended with those of its neighbours. The output is produced by *blocks*: for each
``block`` x ``block`` region of the output, in raster order, every grid tile that touches it is
read (windowed read), run in batches, and accumulated into a block-sized buffer; the arg-max of
the block is written to the output GeoTIFF's window. A tile that touches two blocks is run twice,
which keeps memory bounded by ``block`` and ``batch_size``, independent of the scene size, and
gives exactly the result of blending over the whole scene at once.

The class map has the input's CRS and transform; pixels where the input holds no data in any
band get ``nodata_value``. The output is written to a temporary file beside the destination and
renamed when complete, so a failed run never leaves a half-written map.
"""

import math
import os
import os.path as osp
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

#: class index written where the input has no data
DEFAULT_NODATA = 255


@dataclass
class TileGrid:
    """The global tile grid of a ``height`` x ``width`` scene."""

    height: int
    width: int
    tile: int
    overlap: int

    def __post_init__(self) -> None:
        if self.tile <= 0:
            raise ValueError(f'tile must be positive, got {self.tile}')
        if not 0 <= self.overlap < self.tile:
            raise ValueError(
                f'overlap must be in [0, tile), got {self.overlap} for tile {self.tile}'
            )
        self.stride = self.tile - self.overlap

    def _starts(self, size: int) -> list[int]:
        if size <= self.tile:
            return [0]
        n = math.ceil((size - self.tile) / self.stride) + 1
        # the last tile is moved back inside the scene rather than padded
        return sorted({min(i * self.stride, size - self.tile) for i in range(n)})

    @property
    def rows(self) -> list[int]:
        return self._starts(self.height)

    @property
    def cols(self) -> list[int]:
        return self._starts(self.width)

    def tiles_touching(self, y0: int, y1: int, x0: int, x1: int) -> list[tuple[int, int]]:
        """Origins (row, col) of the tiles that intersect rows [y0, y1) and columns [x0, x1)."""
        th, tw = min(self.tile, self.height), min(self.tile, self.width)
        return [
            (r, c)
            for r in self.rows
            if r < y1 and r + th > y0
            for c in self.cols
            if c < x1 and c + tw > x0
        ]


def blend_window(size_h: int, size_w: int, overlap: int) -> torch.Tensor:
    """A separable weight that ramps linearly over ``overlap`` pixels at each border.

    Strictly positive everywhere, so every pixel of the scene is covered by some weight.
    """

    def ramp(n: int) -> torch.Tensor:
        w = torch.ones(n)
        m = min(overlap, n // 2)
        if m > 0:
            r = (torch.arange(m, dtype=torch.float32) + 1) / (m + 1)
            w[:m] = r
            w[n - m :] = r.flip(0)
        return w

    return ramp(size_h)[:, None] * ramp(size_w)[None, :]


def _read_tile(src, r: int, c: int, h: int, w: int, bands: Sequence[int] | None):
    from rasterio.windows import Window

    win = Window(c, r, w, h)
    data = src.read(indexes=list(bands) if bands else None, window=win)
    valid = src.read_masks(indexes=list(bands) if bands else None, window=win) > 0
    return data, valid.any(axis=0)


def _blocks(height: int, width: int, block: int) -> Iterator[tuple[int, int, int, int]]:
    for y0 in range(0, height, block):
        for x0 in range(0, width, block):
            yield y0, min(y0 + block, height), x0, min(x0 + block, width)


def segment_geotiff_blocks(
    predict_fn: Callable[[torch.Tensor], torch.Tensor],
    src_path: str,
    dst_path: str,
    num_classes: int,
    tile: int = 512,
    overlap: int = 128,
    batch_size: int = 4,
    block: int | None = None,
    bands: Sequence[int] | None = None,
    nodata_value: int = DEFAULT_NODATA,
    progress: bool = True,
    gdal_cache_mb: int = 16,
    counter: list | None = None,
) -> str:
    """Segment the GeoTIFF ``src_path`` into a class map GeoTIFF ``dst_path``.

    Args:
        predict_fn: tiles ``N x C x tile x tile`` (the raster's dtype, as a tensor) ->
            probabilities ``N x num_classes x tile x tile``.
        num_classes: number of classes the model predicts (must be < ``nodata_value``).
        tile, overlap: tile size and overlap of neighbouring tiles, in pixels.
        batch_size: tiles per forward pass; with ``block`` it bounds the memory.
        block: side of the output blocks (default: 4 tile strides).
        bands: 1-based band indexes to read (default: all).
        gdal_cache_mb: GDAL's block cache for this call. Its default (5% of RAM) would grow
            with the scene as tiles are read, and memory must not.
    Returns:
        ``dst_path``.
    """
    import rasterio

    if not 0 < num_classes <= 255 or nodata_value < num_classes:
        raise ValueError(
            f'num_classes must be in 1..255 and below nodata_value={nodata_value}, '
            f'got {num_classes}'
        )
    if not osp.isfile(src_path):
        raise FileNotFoundError(f'input scene {src_path} does not exist')
    with rasterio.Env(GDAL_CACHEMAX=gdal_cache_mb * 2**20):
        return _segment(
            predict_fn,
            src_path,
            dst_path,
            num_classes,
            tile,
            overlap,
            batch_size,
            block,
            bands,
            nodata_value,
            progress,
            counter,
        )


def _segment(
    predict_fn,
    src_path,
    dst_path,
    num_classes,
    tile,
    overlap,
    batch_size,
    block,
    bands,
    nodata_value,
    progress,
    counter=None,
) -> str:
    import rasterio
    from tqdm import tqdm

    try:
        src = rasterio.open(src_path)
    except rasterio.errors.RasterioIOError as e:
        raise ValueError(f'cannot open input scene {src_path} as a raster: {e}') from e
    with src:
        if bands:
            bad = [b for b in bands if not 1 <= b <= src.count]
            if bad:
                raise ValueError(
                    f'{src_path} has {src.count} bands; band indexes {bad} do not exist'
                )
        H, W = src.height, src.width
        grid = TileGrid(H, W, tile, overlap)
        block = block or 4 * grid.stride
        th, tw = min(tile, H), min(tile, W)
        weight = blend_window(th, tw, overlap)
        profile = dict(
            driver='GTiff',
            height=H,
            width=W,
            count=1,
            dtype='uint8',
            crs=src.crs,
            transform=src.transform,
            nodata=nodata_value,
            tiled=True,
            blockxsize=256,
            blockysize=256,
            compress='deflate',
        )
        if W < 256 or H < 256:
            profile.update(tiled=False)
            profile.pop('blockxsize')
            profile.pop('blockysize')

        dst_dir = osp.dirname(osp.abspath(dst_path))
        os.makedirs(dst_dir, exist_ok=True)
        fd, tmp_path = tempfile.mkstemp(suffix='.tif.partial', dir=dst_dir)
        os.close(fd)
        n_tiles = sum(len(grid.tiles_touching(*b)) for b in _blocks(H, W, block))
        bar = tqdm(
            total=n_tiles,
            desc=f'segmenting {osp.basename(src_path)}',
            unit='tile',
            disable=not progress,
        )
        try:
            with rasterio.open(tmp_path, 'w', **profile) as dst:
                for y0, y1, x0, x1 in _blocks(H, W, block):
                    acc = torch.zeros(num_classes, y1 - y0, x1 - x0)
                    wsum = torch.zeros(y1 - y0, x1 - x0)
                    valid = np.zeros((y1 - y0, x1 - x0), dtype=bool)
                    origins = grid.tiles_touching(y0, y1, x0, x1)
                    for i in range(0, len(origins), batch_size):
                        batch = origins[i : i + batch_size]
                        reads = [_read_tile(src, r, c, th, tw, bands) for r, c in batch]
                        tiles = torch.from_numpy(np.stack([d for d, _ in reads]))
                        probs = predict_fn(tiles)
                        if counter is not None:
                            counter.append(len(batch))
                        if probs.shape != (len(batch), num_classes, th, tw):
                            raise ValueError(
                                f'predict_fn returned {tuple(probs.shape)}, expected '
                                f'{(len(batch), num_classes, th, tw)}'
                            )
                        for (r, c), p, (_, v) in zip(batch, probs, reads):
                            # intersection of the tile with the block, in both frames
                            ys, ye = max(r, y0), min(r + th, y1)
                            xs, xe = max(c, x0), min(c + tw, x1)
                            tw_ = weight[ys - r : ye - r, xs - c : xe - c]
                            acc[:, ys - y0 : ye - y0, xs - x0 : xe - x0] += (
                                p[:, ys - r : ye - r, xs - c : xe - c] * tw_
                            )
                            wsum[ys - y0 : ye - y0, xs - x0 : xe - x0] += tw_
                            valid[ys - y0 : ye - y0, xs - x0 : xe - x0] |= v[
                                ys - r : ye - r, xs - c : xe - c
                            ]
                        bar.update(len(batch))
                    assert bool((wsum > 0).all()), 'tile grid left pixels uncovered'
                    classes = (acc / wsum).argmax(0).numpy().astype(np.uint8)
                    classes[~valid] = nodata_value
                    from rasterio.windows import Window

                    dst.write(classes[None], window=Window(x0, y0, x1 - x0, y1 - y0))
            os.replace(tmp_path, dst_path)
        except BaseException:
            if osp.exists(tmp_path):
                os.remove(tmp_path)
            raise
        finally:
            bar.close()
    return dst_path
