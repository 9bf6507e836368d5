"""The embedding sink of ``run_tiles``: a backbone's pooled features per tile, as tile footprints
with their feature vector (GeoPackage / GeoJSON) and as a low-resolution feature COG, one pixel
per tile, that overlays the scene (docs/interfaces.md, Vector products).
"""

import os
import os.path as osp
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mmskysense.datasets.tiling import TileGrid
from mmskysense.utils.atomic_files import partial_path, publish

from .inputs import SceneInputs, TileBatch
from .pixel_space import vector_georef
from .vector_writer import VectorWriter, vector_driver

EMBEDDING_FIELDS = {
    'tile_i': 'int',
    'tile_j': 'int',
    'row': 'int',
    'col': 'int',
    'embedding': 'json',
}


@dataclass
class EmbeddingResult:
    """The vector file (``path``) and the COG (``raster_path``), tiles written, channels."""

    path: str | None
    raster_path: str | None
    tiles: int = 0
    channels: int = 0


def grid_cell_transform(grid: TileGrid, transform: Any) -> Any:
    """The transform of the one-pixel-per-tile raster of ``grid`` over a scene of ``transform``:
    pixel ``(i, j)`` is the grid's step (``tile - overlap``; the tile on an axis with one tile)
    centred on tile ``(i, j)``'s centre."""
    from rasterio.transform import Affine

    def step(starts: list[int], size: int) -> int:
        return starts[1] - starts[0] if len(starts) > 1 else size

    sy, sx = step(grid.rows, grid.tile_h), step(grid.cols, grid.tile_w)
    shift = Affine.translation((grid.tile_w - sx) / 2, (grid.tile_h - sy) / 2)
    return transform @ shift @ Affine.scale(sx, sy)


class EmbeddingSink:
    """Tile footprints with their features (``dst_path``) and the feature COG
    (``raster_path``); at least one of them. Both temporary files are made with the sink.

    Args:
        grid: the tile grid (tiles in its row-major order; skipped tiles may be missing).
        crs, transform: the scene's.
        dst_path: ``.gpkg``, ``.geojson`` or ``.json``.
        raster_path: a GeoTIFF path (the COG).
        source: the scene's file, stored in the outputs.
    """

    def __init__(
        self,
        grid: TileGrid,
        crs: Any,
        transform: Any,
        dst_path: str | None = None,
        raster_path: str | None = None,
        source: str | None = None,
    ) -> None:
        if dst_path is None and raster_path is None:
            raise ValueError('give a vector output (dst_path), a raster output, or both')
        if dst_path is not None:
            vector_driver(dst_path)
        if raster_path is not None and not raster_path.lower().endswith(('.tif', '.tiff')):
            raise ValueError(f'{raster_path}: the feature raster must be a .tif (a COG)')
        self.grid, self.crs, self.transform = grid, crs, transform
        # the footprints' CRS and transform (pixel space, y = -row, without georeference)
        self.vector_crs, self.vector_transform = vector_georef(crs, transform)
        self.dst_path, self.raster_path, self.source = dst_path, raster_path, source
        self.channels: int | None = None
        self.tiles = 0
        self.vector: VectorWriter | None = None
        self._raw = self._cog = None
        self._dst = None
        self._row = -1  # tile row held in self._buffer
        self._buffer: np.ndarray | None = None
        try:
            if dst_path is not None:
                meta = dict(source=source, product='tile embeddings')
                self.vector = VectorWriter(
                    dst_path, EMBEDDING_FIELDS, self.vector_crs, metadata=meta
                )
            if raster_path is not None:
                self._raw = partial_path(raster_path, '.raw.partial')
                self._cog = partial_path(raster_path, '.cog.partial')
        except BaseException:
            self.abort()
            raise

    # ------------------------------------------------------------------------- raster
    def _open_raster(self, channels: int) -> None:
        import rasterio

        rows, cols = len(self.grid.rows), len(self.grid.cols)
        profile = dict(
            driver='GTiff',
            height=rows,
            width=cols,
            count=channels,
            dtype='float32',
            crs=self.crs,
            transform=grid_cell_transform(self.grid, self.transform),
            nodata=float('nan'),
            interleave='pixel',
        )
        if rows >= 16 and cols >= 16:
            profile.update(tiled=True, blockxsize=16, blockysize=16)
        self._dst = rasterio.open(self._raw, 'w', **profile)

    def _flush_rows(self, upto: int) -> None:
        """Write the held tile row and the (skipped, NaN) rows before ``upto``."""
        from rasterio.windows import Window

        while self._row < upto:
            if self._row >= 0:
                self._dst.write(
                    self._buffer[:, None], window=Window(0, self._row, len(self._buffer[0]), 1)
                )
            self._buffer[:] = np.nan
            self._row += 1

    # -------------------------------------------------------------------------- adding
    def add(self, batch: TileBatch, outputs: Any) -> None:
        """``outputs``: ``N x C`` features of the tiles of ``batch``."""
        import shapely

        feats = torch.as_tensor(outputs).float().cpu().numpy()
        if feats.ndim != 2 or len(feats) != len(batch):
            raise ValueError(
                f'the model gave {feats.shape} for {len(batch)} tiles; expected N x C features'
            )
        if self.channels is None:
            self.channels = feats.shape[1]
            if self.raster_path is not None:
                self._open_raster(self.channels)
                self._buffer = np.full((self.channels, len(self.grid.cols)), np.nan, np.float32)
        elif feats.shape[1] != self.channels:
            raise ValueError(f'the model gave {feats.shape[1]} channels after {self.channels}')
        if self._dst is not None:
            for tile, f in zip(batch.tiles, feats):
                self._flush_rows(tile.i)
                self._buffer[:, tile.j] = f
        if self.vector is not None:
            t = self.vector_transform
            boxes = []
            for tile in batch.tiles:
                x = np.array([tile.col, tile.col + tile.width])
                y = np.array([tile.row, tile.row + tile.height])
                xs, ys = t.a * x + t.b * y[:, None] + t.c, t.d * x + t.e * y[:, None] + t.f
                ring = [(xs[0, 0], ys[0, 0]), (xs[0, 1], ys[0, 1]), (xs[1, 1], ys[1, 1])]
                ring.append((xs[1, 0], ys[1, 0]))
                boxes.append(shapely.orient_polygons(shapely.Polygon(ring)))
            tiles = batch.tiles
            columns = dict(
                tile_i=[tl.i for tl in tiles],
                tile_j=[tl.j for tl in tiles],
                row=[tl.row for tl in tiles],
                col=[tl.col for tl in tiles],
                embedding=[f.tolist() for f in feats],
            )
            self.vector.write(boxes, columns)
        self.tiles += len(batch)

    def finish(self) -> EmbeddingResult:
        """Complete both files; returns their paths."""
        import rasterio.shutil

        if self.tiles == 0:
            raise ValueError(f'no tile of {self.source or "the scene"} held a valid pixel')
        if self._dst is not None:
            self._flush_rows(len(self.grid.rows))
            for k in range(self.channels):
                self._dst.set_band_description(k + 1, f'feature_{k}')
            self._dst.update_tags(
                SOURCE=self.source or '',
                TILE=f'{self.grid.tile_h} x {self.grid.tile_w}',
                OVERLAP=str(self.grid.overlap),
                CONTENT='pooled backbone features of tile (i, j) at pixel (i, j)',
            )
            self._dst.close()
            rasterio.shutil.copy(
                self._raw, self._cog, driver='COG', COMPRESS='DEFLATE', BLOCKSIZE=64
            )
            publish(self._cog, self.raster_path)
            self._cog = None
            os.remove(self._raw)
            self._raw = None
        path = self.vector.commit() if self.vector is not None else None
        return EmbeddingResult(path, self.raster_path, self.tiles, self.channels)

    def abort(self) -> None:
        """Remove every temporary file; the destinations are left untouched."""
        if self._dst is not None and not self._dst.closed:
            self._dst.close()
        for path in (self._raw, self._cog):
            if path is not None and osp.exists(path):
                os.remove(path)
        self._raw = self._cog = None
        if self.vector is not None:
            self.vector.abort()


def embed_scene(
    model: Any,
    scene: SceneInputs,
    dst_path: str | None = None,
    raster_path: str | None = None,
    tile: int = 224,
    overlap: int = 0,
    batch_size: int = 8,
    progress: bool = True,
    gdal_cache_mb: int = 64,
    device: str = 'cpu',
) -> EmbeddingResult:
    """The backbone features of every tile of ``scene`` into ``dst_path`` (tile footprints) and
    ``raster_path`` (the feature COG), through ``run_tiles``.

    Args:
        model: an adapter (``TileBatch -> N x C``) or a model (``BackboneAdapter``).
        scene: the opened inputs (``SceneInputs.open``).
        tile, overlap: the tile grid (``scene.grid``); the tile is what the backbone sees.
        batch_size: tiles per forward pass.
        device: where a model (not an adapter) runs.
    """
    from .adapters import BackboneAdapter
    from .runner import run_tiles

    grid = scene.grid(tile, overlap)
    sink = EmbeddingSink(
        grid, scene.crs, scene.transform, dst_path, raster_path, scene.reference_path
    )
    try:
        if isinstance(model, torch.nn.Module):
            model = BackboneAdapter(model, device, scene.spec.reference.name)
    except BaseException:
        sink.abort()
        raise
    adapter: Callable = model
    desc = f'embedding {osp.basename(scene.reference_path)}'
    result, stats = run_tiles(scene, grid, adapter, sink, batch_size, progress, desc, gdal_cache_mb)
    return result
