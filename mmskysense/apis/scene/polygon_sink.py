"""Polygons of a class or change map, block by block, whole across block borders.

The source is the finished class-map COG (``ClassMapWriter``), read in ``block x block`` windows
in row-major order; the scene is never held. In each block the 4-connected regions of one class
are labelled and polygonised in scene-pixel coordinates (integers: pieces of one region cut by a
block border meet exactly). Pieces on either side of a block border whose border pixels are
4-neighbours of one class are put in one group (union-find); a group is complete when no block
still to be read touches one of its pieces, and is then dissolved into one polygon (holes kept),
moved to the scene's CRS and written. docs/interfaces.md (Vector products) has the attributes and
the memory bound.
"""

import heapq
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .accumulator import BlendAccumulator
from .pixel_space import vector_georef
from .vector_writer import VectorWriter, vector_driver

#: complete polygons are written in batches of this many
FLUSH_EVERY = 4096
#: an open group's pieces are dissolved into one polygon when it holds more
COMPACT_PIECES = 256


@dataclass
class PolygonResult:
    """The vector file (``path``), the class map it came from, polygons written and dropped
    (smaller than ``min_area``)."""

    path: str
    class_map: str
    polygons: int = 0
    dropped: int = 0


@dataclass
class _Group:
    """Pieces of one region (pixel-coordinate polygons) and their sums."""

    cls: int
    pieces: list = field(default_factory=list)
    pixels: int = 0
    conf_sum: float = 0.0
    until: tuple = (-1, -1)  # the last block (row-major) that may still touch a piece


def map_transform(geom: Any, t: Any) -> Any:
    """``geom`` from pixel coordinates to map coordinates through the affine ``t``."""
    import shapely

    def apply(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.stack([t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f], axis=1)

    return shapely.transform(geom, apply)


class Polygonizer:
    """The block engine: ``add_block`` the blocks of a ``block``-sized grid of a
    ``height x width`` class map in row-major order, then ``finish``.

    Args:
        height, width: the class map's size.
        block: the block size in pixels.
        transform, crs: the class map's (rasterio Affine and CRS; None: pixel coordinates).
        writer: receives the complete polygons (fields ``class_id``, ``class``, ``area``,
            ``pixels`` and, with ``confidence``, ``confidence``).
        class_names: names of the class indices (default: the index as text).
        min_area: regions smaller than this (CRS units^2) are dropped.
        simplify: tolerance (CRS units) of the simplification after the dissolve; 0: none.
    """

    def __init__(
        self,
        height: int,
        width: int,
        block: int,
        transform: Any,
        writer: VectorWriter,
        class_names: Sequence[str] | None = None,
        min_area: float = 0.0,
        simplify: float = 0.0,
        confidence: bool = False,
    ) -> None:
        if block < 1:
            raise ValueError(f'block must be >= 1, got {block}')
        self.height, self.width, self.block = height, width, block
        self.transform, self.writer = transform, writer
        self.class_names = list(class_names) if class_names else None
        self.min_area, self.simplify, self.confidence = min_area, simplify, confidence
        self.pixel_area = abs(transform.a * transform.e - transform.b * transform.d)
        self.parent: dict[int, int] = {}
        self.groups: dict[int, _Group] = {}  # root piece -> its open group
        self.due: list[tuple] = []  # heap of (until, root); stale once the root's until grew
        self.bottom = np.zeros(width, dtype=np.int64)  # piece ids of the row above the block row
        self.right: np.ndarray | None = None  # piece ids of the last column of the block before
        self.next_id = 1
        self.last = (-1, -1)
        self.out: list[tuple] = []
        self.polygons = self.dropped = 0

    # ---------------------------------------------------------------------- union-find
    def _root(self, p: int) -> int:
        while self.parent[p] != p:
            self.parent[p] = self.parent[self.parent[p]]
            p = self.parent[p]
        return p

    def _join(self, a: np.ndarray, b: np.ndarray) -> None:
        """Join the groups of the pieces ``a[n]`` and ``b[n]`` (0: no piece) of one class:
        the pixels either side of a block border."""
        import shapely

        both = (a > 0) & (b > 0)
        if not both.any():
            return
        for p, q in np.unique(np.stack([a[both], b[both]], 1), axis=0):
            rp, rq = self._root(int(p)), self._root(int(q))
            if rp == rq or self.groups[rp].cls != self.groups[rq].cls:
                continue
            gp, gq = self.groups[rp], self.groups.pop(rq)
            self.parent[rq] = rp
            gp.pieces += gq.pieces
            gp.pixels += gq.pixels
            gp.conf_sum += gq.conf_sum
            if gq.until > gp.until:
                gp.until = gq.until
                heapq.heappush(self.due, (gp.until, rp))
            if len(gp.pieces) > COMPACT_PIECES:
                gp.pieces = [shapely.union_all(gp.pieces)]

    # ----------------------------------------------------------------------- the blocks
    def add_block(
        self, r0: int, c0: int, classes: np.ndarray, valid: np.ndarray, conf: np.ndarray | None
    ) -> None:
        """The block at scene pixel ``(r0, c0)``: ``classes`` ``h x w``, ``valid`` (False:
        nodata, no polygon), ``conf`` (the confidence band, or None)."""
        import shapely
        from rasterio.features import shapes
        from rasterio.transform import Affine
        from scipy import ndimage

        bi, bj = r0 // self.block, c0 // self.block
        if (bi, bj) <= self.last:
            raise ValueError(f'blocks must come in row-major order; got {(bi, bj)}')
        self.last = (bi, bj)
        h, w = classes.shape
        labels = np.zeros((h, w), dtype=np.int32)
        piece_cls = [0]
        n = 0
        for k in np.unique(classes[valid]):
            lab, m = ndimage.label(valid & (classes == k))  # 4-connected
            labels[lab > 0] = lab[lab > 0] + n
            piece_cls += [int(k)] * m
            n += m
        flat = labels.ravel()
        pixels = np.bincount(flat, minlength=n + 1)
        sums = (
            np.bincount(flat, weights=conf.ravel().astype(np.float64), minlength=n + 1)
            if conf is not None
            else np.zeros(n + 1)
        )
        pieces: list[list] = [[] for _ in range(n + 1)]
        shift = Affine.translation(c0, r0)
        for geom, v in shapes(labels, mask=labels > 0, connectivity=4, transform=shift):
            pieces[int(v)].append(shapely.geometry.shape(geom))
        # the blocks still to come that touch this block's pieces
        more_right = c0 + w < self.width
        more_below = r0 + h < self.height
        right_ids = set(np.unique(labels[:, -1])) if more_right else set()
        below_ids = set(np.unique(labels[-1])) if more_below else set()
        base = self.next_id - 1
        for p in range(1, n + 1):
            gid = base + p
            until = (-1, -1)
            if p in right_ids:
                until = (bi, bj + 1)
            if p in below_ids:
                until = (bi + 1, bj)
            self.parent[gid] = gid
            self.groups[gid] = _Group(
                piece_cls[p], pieces[p], int(pixels[p]), float(sums[p]), until
            )
            heapq.heappush(self.due, (until, gid))
        self.next_id += n
        ids = np.where(labels > 0, labels.astype(np.int64) + base, 0)
        if c0 > 0:
            self._join(self.right, ids[:, 0])
        if r0 > 0:
            self._join(self.bottom[c0 : c0 + w], ids[0])
        self.right = ids[:, -1].copy()
        self.bottom[c0 : c0 + w] = ids[-1]
        while self.due and self.due[0][0] <= (bi, bj):
            until, root = heapq.heappop(self.due)
            g = self.groups.get(root)
            if g is not None and g.until == until:  # a root whose last block is done
                self._emit(self.groups.pop(root))
        if len(self.out) >= FLUSH_EVERY:
            self._flush()

    def _emit(self, g: _Group) -> None:
        import shapely

        area = g.pixels * self.pixel_area
        if area < self.min_area:
            self.dropped += 1
            return
        geom = g.pieces[0] if len(g.pieces) == 1 else shapely.union_all(g.pieces)
        # drop the collinear vertices left where block borders cut the outline (exact: the
        # pixel grid's coordinates are integers)
        geom = geom.simplify(0, preserve_topology=True)
        geom = map_transform(geom, self.transform)
        if self.simplify > 0:
            geom = geom.simplify(self.simplify, preserve_topology=True)
        geom = shapely.orient_polygons(geom)  # exterior counter-clockwise
        name = self.class_names[g.cls] if self.class_names else str(g.cls)
        conf = g.conf_sum / g.pixels if self.confidence else None
        self.out.append((geom, g.cls, name, area, g.pixels, conf))

    def _flush(self) -> None:
        if not self.out:
            return
        geoms, ids, names, areas, pixels, conf = zip(*self.out)
        columns = {'class_id': ids, 'class': names, 'area': areas, 'pixels': pixels}
        if self.confidence:
            columns['confidence'] = conf
        self.writer.write(geoms, columns)
        self.polygons += len(self.out)
        self.out = []

    def finish(self) -> None:
        """Write what is left (every group is complete once the last block is in)."""
        for root in list(self.groups):
            self._emit(self.groups.pop(root))
        self.due = []
        self._flush()


def polygon_fields(confidence: bool) -> dict[str, str]:
    fields = {'class_id': 'int', 'class': 'str', 'area': 'float', 'pixels': 'int'}
    if confidence:
        fields['confidence'] = 'float'
    return fields


def _check_options(dst_path: str, block: int) -> None:
    vector_driver(dst_path)
    if block < 1:
        raise ValueError(f'block must be >= 1, got {block}')


def polygonize_class_map(
    class_map_path: str,
    dst_path: str,
    block: int = 1024,
    min_area: float = 0.0,
    simplify: float = 0.0,
    class_names: Sequence[str] | None = None,
    progress: bool = False,
) -> PolygonResult:
    """The polygons of the class (or change) map ``class_map_path`` into ``dst_path``
    (``.gpkg``, ``.geojson``, ``.json``; the format refused before the map is opened).

    Args:
        block: the side of the windows read (memory: docs/interfaces.md, Vector products).
        min_area: regions smaller than this (CRS units^2) are dropped.
        simplify: simplification tolerance (CRS units) after the dissolve; 0: none.
        class_names: default: the map's ``CLASSES`` tag, else the class index.
    """
    from tqdm import tqdm

    from mmskysense.datasets.raster import open_raster, read_window

    _check_options(dst_path, block)
    with open_raster(class_map_path, expected='a class map (ClassMapWriter)') as src:
        confidence = src.count >= 2
        if class_names is None and src.tags().get('CLASSES'):
            class_names = src.tags()['CLASSES'].split(',')
        # a map without CRS (a scene without georeference): pixel space, y = -row
        crs, transform = vector_georef(src.crs, src.transform)
        writer = VectorWriter(
            dst_path,
            polygon_fields(confidence),
            crs,
            metadata=dict(source=class_map_path, product='polygons of a class map'),
        )
        try:
            engine = Polygonizer(
                src.height,
                src.width,
                block,
                transform,
                writer,
                class_names,
                min_area,
                simplify,
                confidence,
            )
            starts = [
                (r, c) for r in range(0, src.height, block) for c in range(0, src.width, block)
            ]
            bands = [1, 2] if confidence else [1]
            desc = f'polygonising {osp.basename(class_map_path)}'
            for r, c in tqdm(starts, desc=desc, unit='block', disable=not progress):
                rows, cols = (r, min(r + block, src.height)), (c, min(c + block, src.width))
                values, valid = read_window(src, bands, rows, cols, class_map_path, valid='any')
                engine.add_block(r, c, values[0], valid, values[1] if confidence else None)
            engine.finish()
            path = writer.commit()
        except BaseException:
            writer.abort()
            raise
    return PolygonResult(path, class_map_path, engine.polygons, engine.dropped)


class PolygonSink:
    """A ``run_tiles`` sink: the class map of ``class_map`` (a ``BlendAccumulator``), then its
    polygons in ``finish`` (``polygonize_class_map``, its keyword ``options``: ``block``,
    ``min_area``, ``simplify``, ``class_names``).

    The vector format is checked when the sink is made. ``abort`` aborts the class map (no class
    map file is left) and any partial vector file.
    """

    def __init__(self, class_map: BlendAccumulator, dst_path: str, **options: Any) -> None:
        unknown = set(options) - {'block', 'min_area', 'simplify', 'class_names'}
        if unknown:
            raise TypeError(f'unknown options {sorted(unknown)}')
        _check_options(dst_path, options.get('block', 1024))
        self.class_map, self.dst_path, self.options = class_map, dst_path, options

    def add(self, batch: Any, outputs: Any) -> None:
        self.class_map.add(batch, outputs)

    def finish(self) -> PolygonResult:
        class_map_path = self.class_map.finish()
        return polygonize_class_map(class_map_path, self.dst_path, **self.options)

    def abort(self) -> None:
        self.class_map.abort()
