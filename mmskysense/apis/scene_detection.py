"""Object detection over a GeoTIFF scene of any size, by overlapping patches.

The scene is never held in memory: it is cut into the global tile grid of
:class:`~mmskysense.datasets.tiling.TileGrid` (``tile`` x ``tile`` windows, stride
``tile - overlap``, the last window moved back inside the scene), read window by window and run
``batch_size`` patches at a time. Each patch's boxes are moved to scene pixels, and the
detections of overlapping patches are merged (:mod:`mmskysense.apis.detection_merge`: a
detection cut by an inner patch border gives way to a whole one of its class that covers it,
then class-wise NMS, rotated for oriented boxes). Memory is bounded by the patch batch for the
imagery; the detections themselves are kept as arrays (about 50 bytes each) until the merge.

The output is GeoJSON (RFC 7946 layout, with the pre-2016 ``crs`` member that GDAL and QGIS
read): one polygon per detection in the scene's map coordinates (the scene's affine transform
applied to the box corners, in pixel-edge coordinates: ``(0, 0)`` is the outer corner of the
first pixel), with ``class``, ``class_id``, ``score`` and the box in scene pixels
(``pixel_box``) as properties. A scene without a CRS gives polygons in pixel coordinates
(``x`` right, ``y`` down) and no ``crs`` member. The file is written to a temporary name beside
the destination and renamed when complete.
"""

import json
import os
import os.path as osp
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from mmskysense.datasets.raster_io import mask_kinds, read_window
from mmskysense.datasets.tiling import TileGrid
from mmskysense.structures.boxes import rbox_corners, shift_boxes, truncated_by_window

from .detection_merge import merge_detections

#: NMS thresholds of the merge by box type (rotated: mmrotate's DOTAMetric patch merge)
DEFAULT_IOU_THR = {4: 0.5, 5: 0.1}


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
        if self.bboxes.shape[-1] == 5:
            return rbox_corners(self.bboxes.double()).numpy()
        x1, y1, x2, y2 = self.bboxes.double().unbind(-1)
        return torch.stack(
            [
                torch.stack([x1, y1], -1),
                torch.stack([x2, y1], -1),
                torch.stack([x2, y2], -1),
                torch.stack([x1, y2], -1),
            ],
            1,
        ).numpy()

    def map_polygons(self) -> np.ndarray:
        """Corners ``N x 4 x 2`` in map coordinates (pixel coordinates without a CRS)."""
        pts = self.pixel_polygons()
        if self.crs is None or self.transform is None:
            return pts
        t = self.transform
        x, y = pts[..., 0], pts[..., 1]
        return np.stack([t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f], axis=-1)


def detector_predict_fn(model: torch.nn.Module, device: str = 'cpu') -> Callable:
    """Wrap an mmdet / mmrotate detector: uint8 RGB patches ``N x C x h x w`` -> a list of
    ``dict(bboxes, scores, labels)`` in patch pixels.

    The patches go through the model's own data preprocessor. Models trained on images loaded
    by OpenCV (BGR) convert them to RGB there (``bgr_to_rgb=True``): the RGB bands read from the
    scene are handed over in BGR order for them, so the model sees what it saw in training.
    """
    from mmdet.structures import DetDataSample

    model = model.to(device).eval()
    flip = bool(getattr(model.data_preprocessor, '_channel_conversion', False))

    @torch.no_grad()
    def predict(tiles: torch.Tensor) -> list[dict]:
        h, w = tiles.shape[-2:]
        imgs = tiles.flip(1) if flip and tiles.shape[1] == 3 else tiles
        samples = [
            DetDataSample(
                metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0))
            )
            for _ in range(len(tiles))
        ]
        data = model.data_preprocessor(
            dict(inputs=list(imgs.to(device)), data_samples=samples), False
        )
        results = model.predict(data['inputs'], data['data_samples'], rescale=True)
        out = []
        for r in results:
            p = r.pred_instances
            out.append(
                dict(
                    bboxes=getattr(p.bboxes, 'tensor', p.bboxes).float().cpu(),
                    scores=p.scores.float().cpu(),
                    labels=p.labels.long().cpu(),
                )
            )
        return out

    return predict


def detect_geotiff(
    predict_fn: Callable[[torch.Tensor], list[dict]],
    src_path: str,
    dst_path: str | None,
    class_names: Sequence[str],
    tile: int = 1024,
    overlap: int = 200,
    batch_size: int = 4,
    bands: Sequence[int] | None = None,
    score_thr: float = 0.05,
    iou_thr: float | None = None,
    iof_thr: float = 0.7,
    edge_margin: float = 2.0,
    progress: bool = True,
    gdal_cache_mb: int = 16,
) -> SceneDetections:
    """Detect objects in the scene ``src_path``; write them to the GeoJSON ``dst_path``.

    Args:
        predict_fn: patches ``N x C x h x w`` (uint8 as read) -> list of N
            ``dict(bboxes, scores, labels)`` in patch pixels (see :func:`detector_predict_fn`).
        class_names: the model's classes, for the ``class`` property.
        tile, overlap: patch size and overlap in pixels; the overlap should exceed the largest
            object, so that every object is seen whole by some patch.
        batch_size: patches per forward pass (bounds the memory with ``tile``).
        bands: 1-based bands to read, in the model's order (default: 1, 2, 3).
        score_thr: detections below it are dropped before the merge.
        iou_thr: NMS threshold of the merge (default 0.5 for horizontal boxes, 0.1 rotated).
        iof_thr, edge_margin: see :func:`~mmskysense.apis.detection_merge.merge_detections`
            and :func:`~mmskysense.structures.boxes.truncated_by_window`.
        dst_path: ``.geojson`` / ``.json`` output, or None to only return the detections.
    """
    import rasterio

    if dst_path is not None and not dst_path.lower().endswith(('.geojson', '.json')):
        raise ValueError(f'output {dst_path} must be a .geojson (or .json) file')
    if not osp.isfile(src_path):
        raise FileNotFoundError(f'input scene {src_path} does not exist')
    with rasterio.Env(GDAL_CACHEMAX=gdal_cache_mb * 2**20):
        dets = _detect(
            predict_fn,
            src_path,
            class_names,
            tile,
            overlap,
            batch_size,
            bands,
            score_thr,
            iou_thr,
            iof_thr,
            edge_margin,
            progress,
        )
    if dst_path is not None:
        write_detections_geojson(dets, dst_path, source=src_path)
    return dets


def _detect(
    predict_fn,
    src_path,
    class_names,
    tile,
    overlap,
    batch_size,
    bands,
    score_thr,
    iou_thr,
    iof_thr,
    edge_margin,
    progress,
) -> SceneDetections:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    from tqdm import tqdm

    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            src = rasterio.open(src_path)
    except rasterio.errors.RasterioIOError as e:
        raise ValueError(f'cannot open input scene {src_path} as a raster: {e}') from e
    with src:
        bands = list(bands) if bands else [1, 2, 3]
        bad = [b for b in bands if not 1 <= b <= src.count]
        if bad:
            raise ValueError(
                f'{src_path} has {src.count} bands; band indexes {bad} do not exist '
                '(pass the bands to read, in the order the model was trained with)'
            )
        H, W = src.height, src.width
        grid = TileGrid(H, W, tile, overlap)
        th, tw = min(tile, H), min(tile, W)
        origins = [(r, c) for r in grid.rows for c in grid.cols]
        kinds = mask_kinds(src)
        found: list[tuple] = []
        box_dim, skipped_empty = None, 0
        bar = tqdm(
            total=len(origins),
            desc=f'detecting in {osp.basename(src_path)}',
            unit='patch',
            disable=not progress,
        )
        try:
            for i in range(0, len(origins), batch_size):
                batch = origins[i : i + batch_size]
                # a pixel holds data where some band does (the patch is skipped where none)
                reads = [
                    read_window(
                        src, bands, (r, r + th), (c, c + tw), src_path, valid='any', kinds=kinds
                    )
                    for r, c in batch
                ]
                todo = [k for k, (_, v) in enumerate(reads) if v.any()]
                skipped_empty += len(batch) - len(todo)
                if todo:
                    tiles = torch.from_numpy(np.stack([reads[k][0] for k in todo]))
                    results = predict_fn(tiles)
                    if len(results) != len(todo):
                        raise ValueError(
                            f'predict_fn returned {len(results)} results for {len(todo)} patches'
                        )
                    for k, res in zip(todo, results):
                        r, c = batch[k]
                        b = torch.as_tensor(res['bboxes']).double()
                        if b.ndim != 2 or b.shape[-1] not in (4, 5):
                            raise ValueError(
                                f'predict_fn gave boxes of shape {tuple(b.shape)}; '
                                'expected N x 4 or N x 5'
                            )
                        if box_dim is not None and b.shape[-1] != box_dim:
                            raise ValueError('predict_fn mixed horizontal and rotated boxes')
                        box_dim = b.shape[-1]
                        s = torch.as_tensor(res['scores']).double()
                        lab = torch.as_tensor(res['labels']).long()
                        keep = s >= score_thr
                        b = shift_boxes(b[keep], c, r)
                        cut = truncated_by_window(b, (c, r, c + tw, r + th), (H, W), edge_margin)
                        found.append((b, s[keep], lab[keep], cut))
                bar.update(len(batch))
        finally:
            bar.close()
        crs, transform = src.crs, src.transform

    box_dim = box_dim or 4
    found = [f for f in found if len(f[0])]
    if found:
        bboxes, scores, labels, cut = (torch.cat(v) for v in zip(*found))
    else:
        bboxes, scores = torch.zeros(0, box_dim, dtype=torch.float64), torch.zeros(0)
        labels, cut = torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.bool)
    if len(labels) and int(labels.max()) >= len(class_names):
        raise ValueError(
            f'predict_fn gave class {int(labels.max())}, but only '
            f'{len(class_names)} class names are known'
        )
    thr = DEFAULT_IOU_THR[box_dim] if iou_thr is None else iou_thr
    keep = merge_detections(bboxes, scores, labels, thr, truncated=cut, iof_thr=iof_thr)
    stats = dict(
        patches=len(origins),
        empty_patches=skipped_empty,
        before_merge=len(labels),
        cut_by_patch_border=int(cut.sum()),
        kept=len(keep),
    )
    return SceneDetections(
        bboxes[keep],
        scores[keep].float(),
        labels[keep],
        list(class_names),
        H,
        W,
        crs,
        transform,
        stats,
    )


def _crs_member(crs) -> dict | None:
    if crs is None:
        return None
    epsg = crs.to_epsg()
    name = f'urn:ogc:def:crs:EPSG::{epsg}' if epsg else crs.to_wkt()
    return dict(type='name', properties=dict(name=name))


def _ring(corners: np.ndarray) -> list:
    """A closed, counter-clockwise ring (RFC 7946 exterior rings)."""
    x, y = corners[:, 0], corners[:, 1]
    if np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)) < 0:
        corners = corners[::-1]
    pts = [[float(px), float(py)] for px, py in corners]
    return pts + [pts[0]]


def write_detections_geojson(
    dets: SceneDetections, dst_path: str, source: str | None = None
) -> str:
    """Write ``dets`` as a GeoJSON FeatureCollection (module docstring); returns ``dst_path``."""
    georeferenced = dets.crs is not None
    polygons = dets.map_polygons()
    header = dict(type='FeatureCollection', name=osp.splitext(osp.basename(dst_path))[0])
    crs = _crs_member(dets.crs)
    if crs is not None:
        header['crs'] = crs
    header['mmskysense'] = dict(
        source=source,
        coordinates='map' if georeferenced else 'pixel',
        crs_wkt=dets.crs.to_wkt() if georeferenced else None,
        box_type='rbox' if dets.bboxes.shape[-1] == 5 else 'hbox',
        scene_size=[dets.height, dets.width],
        classes=list(dets.class_names),
    )
    dst_dir = osp.dirname(osp.abspath(dst_path))
    os.makedirs(dst_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.geojson.partial', dir=dst_dir)
    try:
        with os.fdopen(fd, 'w') as f:
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
        os.replace(tmp, dst_path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return dst_path


def write_detection_preview(
    src_path: str,
    dets: SceneDetections,
    png_path: str,
    bands: Sequence[int] = (1, 2, 3),
    max_size: int = 1024,
    title: str | None = None,
) -> str:
    """A PNG of the scene (read decimated, contrast-stretched) with the boxes drawn in class
    colours and a legend of the classes found."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import rasterio
    from matplotlib.patches import Patch, Polygon
    from rasterio.enums import Resampling
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        with rasterio.open(src_path) as src:
            scale = max(1.0, max(src.height, src.width) / max_size)
            h, w = max(1, int(src.height / scale)), max(1, int(src.width / scale))
            img = src.read(
                list(bands), out_shape=(len(bands), h, w), resampling=Resampling.average
            ).astype(np.float32)
            valid = src.read_masks(bands[0], out_shape=(h, w)) > 0
    lo, hi = np.percentile(img[:, valid], (2, 98)) if valid.any() else (0.0, 1.0)
    img = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1).transpose(1, 2, 0)
    fig, ax = plt.subplots(figsize=(8, 8 * h / w), dpi=100, layout='constrained')
    ax.imshow(img)
    ax.set_axis_off()
    ax.set_title(title or f'{len(dets)} detections in {osp.basename(src_path)}')
    cmap = plt.get_cmap('tab20')
    sx, sy = w / dets.width, h / dets.height
    for corners, label in zip(dets.pixel_polygons(), dets.labels.tolist()):
        ax.add_patch(
            Polygon(
                corners * [sx, sy],
                closed=True,
                fill=False,
                linewidth=1.2,
                edgecolor=cmap(label % 20),
            )
        )
    present = sorted(set(dets.labels.tolist()))
    if present:
        fig.legend(
            handles=[Patch(color=cmap(c % 20), label=dets.class_names[c]) for c in present],
            loc='outside lower center',
            ncol=min(len(present), 5),
            frameon=False,
        )
    dst_dir = osp.dirname(osp.abspath(png_path))
    os.makedirs(dst_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.png', dir=dst_dir)
    os.close(fd)
    try:
        fig.savefig(tmp, bbox_inches='tight')
        os.replace(tmp, png_path)
    finally:
        plt.close(fig)
        if osp.exists(tmp):
            os.remove(tmp)
    return png_path
