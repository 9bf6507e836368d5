"""The box sink of ``run_tiles``: per-tile detections to one merged set for the scene, as GeoJSON.

``add`` moves each tile's boxes to scene pixels and flags those cut by an inner tile border;
``finish`` is detection's merge (:func:`~mmskysense.apis.detection_merge.merge_detections`: a
detection cut by an inner border gives way to a whole one of its class that covers it, then
class-wise NMS, rotated for oriented boxes) and writes the GeoJSON; ``abort`` removes the
partial file. The detections are kept until the merge in a few arrays that grow by doubling
(about 50 bytes per detection): kept as small tensors per tile, they would pin the C heap among
each tile's freed buffers (glibc raises its mmap threshold to the size of the freed tile
arrays, so these come from the heap too), and the resident memory would grow by about a tile
per tile (about 0.3 MiB per 256 px patch) instead of by the detections.

The GeoJSON (RFC 7946 layout, with the pre-2016 ``crs`` member that GDAL and QGIS read) holds
one polygon per detection in the scene's map coordinates (the scene's affine transform applied
to the box corners, in pixel-edge coordinates: ``(0, 0)`` is the outer corner of the first
pixel), with ``class``, ``class_id``, ``score`` and the box in scene pixels (``pixel_box``) as
properties. A scene without a CRS gives polygons in pixel space, in the explicit local
engineering CRS of ``pixel_space`` (``x`` = column, ``y`` = -row; its ``crs`` member says so, and
the ``mmskysense`` member says ``coordinates: "pixel"``), never bare numbers a GIS would read as
longitude / latitude.
"""

import json
import os
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mmskysense.structures.boxes import box_corners, shift_boxes, truncated_by_window
from mmskysense.utils.atomic_files import partial_path, publish

from .inputs import TileBatch
from .pixel_space import coordinates_kind, vector_georef
from .vector_writer import _crs_member

#: NMS thresholds of the merge by box type (rotated: mmrotate's DOTAMetric patch merge)
DEFAULT_IOU_THR = {4: 0.5, 5: 0.1}
GEOJSON_SUFFIXES = ('.geojson', '.json')


@dataclass
class SceneDetections:
    """Detections of a whole scene: boxes in scene pixels, best score first."""

    bboxes: torch.Tensor  # N x 4 (x1, y1, x2, y2) or N x 5 (cx, cy, w, h, angle in radians)
    scores: torch.Tensor
    labels: torch.Tensor
    class_names: Sequence[str]
    height: int
    width: int
    crs: object | None = None  # rasterio CRS, None when the scene has none
    transform: object | None = None  # rasterio Affine of the scene
    stats: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.scores)

    def pixel_polygons(self) -> np.ndarray:
        """Corners ``N x 4 x 2`` in scene pixels."""
        if len(self) == 0:
            return np.zeros((0, 4, 2))
        return box_corners(self.bboxes.double()).numpy()

    def map_polygons(self) -> np.ndarray:
        """Corners ``N x 4 x 2`` in map coordinates; without a CRS in pixel space (``x =
        column``, ``y = -row``: ``pixel_space.vector_georef``)."""
        pts = self.pixel_polygons()
        t = vector_georef(self.crs, self.transform)[1]
        x, y = pts[..., 0], pts[..., 1]
        return np.stack([t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f], axis=-1)


class _Found:
    """The detections kept until the merge: columns that grow by doubling, so that they hold
    O(log N) allocations instead of a few per tile."""

    def __init__(self) -> None:
        self.n = 0
        self.cols: list[np.ndarray] | None = None

    def append(self, *values: torch.Tensor) -> None:
        k = len(values[0])
        if self.cols is None:
            cap = max(1024, k)
            self.cols = [np.empty((cap,) + tuple(v.shape[1:]), v.numpy().dtype) for v in values]
        elif self.n + k > len(self.cols[0]):
            cap = max(2 * len(self.cols[0]), self.n + k)
            grown = []
            for c in self.cols:
                g = np.empty((cap,) + c.shape[1:], c.dtype)
                g[: self.n] = c[: self.n]
                grown.append(g)
            self.cols = grown
        for c, v in zip(self.cols, values):
            c[self.n : self.n + k] = v.numpy()
        self.n += k

    def __len__(self) -> int:
        return self.n

    def tensors(self) -> list[torch.Tensor]:
        """The columns, trimmed to the detections (copies: the buffers can go)."""
        return [torch.from_numpy(c[: self.n].copy()) for c in self.cols or []]


def check_geojson_path(dst_path: str | None) -> None:
    """Refuse an output that is not a GeoJSON file (before anything is computed)."""
    if dst_path is not None and not dst_path.lower().endswith(GEOJSON_SUFFIXES):
        raise ValueError(f'output {dst_path} must be a .geojson (or .json) file')


def _ring(corners: np.ndarray) -> list:
    """A closed, counter-clockwise ring (RFC 7946 exterior rings)."""
    x, y = corners[:, 0], corners[:, 1]
    if np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)) < 0:
        corners = corners[::-1]
    pts = [[float(px), float(py)] for px, py in corners]
    return pts + [pts[0]]


def _write_geojson(dets: SceneDetections, path: str, name: str, source: str | None) -> None:
    polygons = dets.map_polygons()
    header = dict(type='FeatureCollection', name=name)
    crs = vector_georef(dets.crs, dets.transform)[0]
    header['crs'] = _crs_member(crs)
    header['mmskysense'] = dict(
        source=source,
        coordinates=coordinates_kind(crs),
        crs_wkt=crs.to_wkt(),
        box_type='rbox' if dets.bboxes.shape[-1] == 5 else 'hbox',
        scene_size=[dets.height, dets.width],
        classes=list(dets.class_names),
    )
    with open(path, 'w') as f:
        f.write(json.dumps(header)[:-1] + ', "features": [\n')
        for i in range(len(dets)):
            label = int(dets.labels[i])
            feature = dict(
                type='Feature',
                id=i,
                geometry=dict(type='Polygon', coordinates=[_ring(polygons[i])]),
                properties={
                    'class': dets.class_names[label],
                    'class_id': label,
                    'score': round(float(dets.scores[i]), 6),
                    'pixel_box': [float(v) for v in dets.bboxes[i]],
                },
            )
            f.write(('' if i == 0 else ',\n') + json.dumps(feature))
        f.write('\n]}\n')


def _commit(dets: SceneDetections, tmp: str, dst_path: str, source: str | None) -> str:
    """Write ``dets`` into ``tmp`` and rename it onto ``dst_path``; ``tmp`` goes on failure."""
    try:
        _write_geojson(dets, tmp, osp.splitext(osp.basename(dst_path))[0], source)
        publish(tmp, dst_path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return dst_path


def write_detections_geojson(
    dets: SceneDetections, dst_path: str, source: str | None = None
) -> str:
    """Write ``dets`` as a GeoJSON FeatureCollection (module docstring), through a temporary
    file renamed when complete; returns ``dst_path``."""
    return _commit(dets, partial_path(dst_path, '.geojson.partial'), dst_path, source)


class BoxSink:
    """The detection sink of ``run_tiles`` (``TileSink``).

    The temporary output file is made when the sink is, so an output folder that cannot be
    written fails before any tile is computed.

    Args:
        height, width: the scene's output grid.
        class_names: the model's classes (``labels`` index them).
        dst_path: the ``.geojson`` / ``.json`` output, or None to only return the detections.
        crs, transform: the scene's (rasterio CRS and Affine); None: pixel coordinates.
        score_thr: detections below it are dropped before the merge.
        iou_thr: NMS threshold of the merge (default 0.5 horizontal, 0.1 rotated).
        iof_thr: see :func:`~mmskysense.apis.detection_merge.merge_detections`.
        edge_margin: see :func:`~mmskysense.structures.boxes.truncated_by_window`.
        source: the scene's file, named in errors and in the GeoJSON.
    """

    def __init__(
        self,
        height: int,
        width: int,
        class_names: Sequence[str],
        dst_path: str | None = None,
        crs: Any = None,
        transform: Any = None,
        score_thr: float = 0.05,
        iou_thr: float | None = None,
        iof_thr: float = 0.7,
        edge_margin: float = 2.0,
        source: str | None = None,
    ) -> None:
        check_geojson_path(dst_path)
        self.height, self.width = height, width
        self.class_names = list(class_names)
        self.dst_path, self.crs, self.transform, self.source = dst_path, crs, transform, source
        self.score_thr, self.iou_thr, self.iof_thr = score_thr, iou_thr, iof_thr
        self.edge_margin = edge_margin
        self.box_dim: int | None = None
        self.found = _Found()
        self._partial = partial_path(dst_path, '.geojson.partial') if dst_path is not None else None

    def _where(self, tile: Any) -> str:
        return f'tile at row {tile.row}, col {tile.col}' + (
            f' of {self.source}' if self.source else ''
        )

    def add(self, batch: TileBatch, outputs: Sequence[dict]) -> None:
        """``outputs``: per tile of ``batch``, ``dict(bboxes, scores, labels)`` in tile pixels."""
        if len(outputs) != len(batch):
            raise ValueError(f'the model returned {len(outputs)} results for {len(batch)} tiles')
        for tile, res in zip(batch.tiles, outputs):
            b = torch.as_tensor(res['bboxes']).double()
            if b.ndim != 2 or b.shape[-1] not in (4, 5):
                raise ValueError(
                    f'the model gave boxes of shape {tuple(b.shape)} for the {self._where(tile)}; '
                    'expected N x 4 (x1, y1, x2, y2) or N x 5 (cx, cy, w, h, angle)'
                )
            if self.box_dim is not None and b.shape[-1] != self.box_dim:
                raise ValueError(
                    f'the model mixed horizontal and rotated boxes (the {self._where(tile)})'
                )
            self.box_dim = b.shape[-1]
            s = torch.as_tensor(res['scores']).double()
            lab = torch.as_tensor(res['labels']).long()
            if len(lab) and not 0 <= int(lab.min()) <= int(lab.max()) < len(self.class_names):
                raise ValueError(
                    f'the model gave classes {int(lab.min())}..{int(lab.max())} for the '
                    f'{self._where(tile)}, but {len(self.class_names)} class names are known'
                )
            keep = s >= self.score_thr
            if not keep.any():
                continue
            b = shift_boxes(b[keep], tile.col, tile.row)
            window = (tile.col, tile.row, tile.col + tile.width, tile.row + tile.height)
            cut = truncated_by_window(b, window, (self.height, self.width), self.edge_margin)
            self.found.append(b, s[keep], lab[keep], cut)

    def finish(self) -> SceneDetections:
        """Merge the detections of all tiles; write the GeoJSON when the sink has a path."""
        from mmskysense.apis.detection_merge import merge_detections

        box_dim = self.box_dim or 4
        if self.found:
            bboxes, scores, labels, cut = self.found.tensors()
        else:
            bboxes, scores = torch.zeros(0, box_dim, dtype=torch.float64), torch.zeros(0)
            labels, cut = torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.bool)
        self.found = _Found()
        thr = DEFAULT_IOU_THR[box_dim] if self.iou_thr is None else self.iou_thr
        keep = merge_detections(bboxes, scores, labels, thr, truncated=cut, iof_thr=self.iof_thr)
        stats = dict(before_merge=len(labels), cut_by_patch_border=int(cut.sum()), kept=len(keep))
        dets = SceneDetections(
            bboxes[keep],
            scores[keep].float(),
            labels[keep],
            self.class_names,
            self.height,
            self.width,
            self.crs,
            self.transform,
            stats,
        )
        if self._partial is not None:
            tmp, self._partial = self._partial, None
            _commit(dets, tmp, self.dst_path, self.source)
        return dets

    def abort(self) -> None:
        """Remove the temporary output file; the destination is left untouched."""
        self.found = _Found()
        if self._partial is not None and osp.exists(self._partial):
            os.remove(self._partial)
        self._partial = None
