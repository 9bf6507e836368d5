"""Change maps from two GeoTIFFs of the same ground at two dates, by tiles with bounded memory.

The two scenes must share a CRS and a pixel size and overlap; their pixel grids may differ by a
whole-pixel window offset (one scene cut from a larger grid, say): the overlap is found in
ground coordinates and each scene is read through its own window of it, never resampled. A
fractional offset, another resolution, a rotation or another CRS is refused with both files
named (resample one scene onto the other's grid first, e.g. with ``gdalwarp``).

The change map covers the overlap: its CRS is the scenes', its transform the overlap's, and it
holds ``0`` (unchanged), ``1`` (changed) or ``nodata_value`` where either date has no data (in
all its bands). It is computed as the segmentation inference computes a class map
(``large_scene_inference``): a global tile grid over the overlap, tile probabilities blended by
a border-tapering weight, the output produced block by block (memory bounded by ``block`` and
``batch_size``, not by the scenes) and written to a temporary file renamed when complete. A
tile is the date-major stack of the two dates' windows (``2C`` bands), the change detector's
input.
"""

import os
import os.path as osp
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .large_scene_inference import DEFAULT_NODATA, TileGrid, _blocks, blend_window

CHANGE_CLASSES = ('unchanged', 'changed')
CHANGE_PALETTE = [[40, 40, 40], [255, 60, 40]]
#: how far (in pixels) the grids may be from a whole-pixel offset, and the pixel sizes apart
_GRID_TOL = 1e-6


@dataclass
class PairOverlap:
    """The common window of two scenes: ``height`` x ``width`` pixels starting at
    ``(row1, col1)`` in scene 1 and ``(row2, col2)`` in scene 2, with ``transform``."""

    row1: int
    col1: int
    row2: int
    col2: int
    height: int
    width: int
    transform: object
    crs: object


def pair_overlap(src1, src2) -> PairOverlap:
    """The overlap of two open rasterio datasets, or a ValueError naming both files."""
    names = f'{src1.name} and {src2.name}'
    if src1.crs is None or src2.crs is None:
        missing = src1.name if src1.crs is None else src2.name
        raise ValueError(f'{missing} has no CRS: cannot place it against the other date')
    if src1.crs != src2.crs:
        raise ValueError(
            f'{names} have different CRS ({src1.crs} vs {src2.crs}); '
            'reproject one onto the other first'
        )
    t1, t2 = src1.transform, src2.transform
    for name, v1, v2 in (
        ('pixel width', t1.a, t2.a),
        ('pixel height', t1.e, t2.e),
        ('rotation', t1.b, t2.b),
        ('rotation', t1.d, t2.d),
    ):
        if abs(v1 - v2) > _GRID_TOL * max(abs(v1), abs(v2), 1.0):
            raise ValueError(
                f'{names} differ in {name} ({v1} vs {v2}): their pixel grids '
                'must be the same up to a window offset'
            )
    if t1.b or t1.d:
        raise ValueError(f'{names}: rotated grids are not supported')
    # the offset of scene 2's origin in scene 1's pixels must be whole
    dcol = (t2.c - t1.c) / t1.a
    drow = (t2.f - t1.f) / t1.e
    if abs(dcol - round(dcol)) > 1e-3 or abs(drow - round(drow)) > 1e-3:
        raise ValueError(
            f'{names}: the grids are offset by ({drow:.3f}, {dcol:.3f}) pixels '
            '(row, col), not a whole number: resample one onto the other first'
        )
    dcol, drow = int(round(dcol)), int(round(drow))
    # in scene 1's pixel frame, scene 2 spans rows [drow, drow + h2), cols [dcol, dcol + w2)
    r0, r1 = max(0, drow), min(src1.height, drow + src2.height)
    c0, c1 = max(0, dcol), min(src1.width, dcol + src2.width)
    if r1 <= r0 or c1 <= c0:
        raise ValueError(
            f'{names} do not overlap (bounds {tuple(src1.bounds)} and {tuple(src2.bounds)})'
        )
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    transform = window_transform(Window(c0, r0, c1 - c0, r1 - r0), t1)
    return PairOverlap(
        row1=r0,
        col1=c0,
        row2=r0 - drow,
        col2=c0 - dcol,
        height=r1 - r0,
        width=c1 - c0,
        transform=transform,
        crs=src1.crs,
    )


def _read_pair_tile(
    srcs, ov: PairOverlap, r: int, c: int, h: int, w: int, bands: Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """``2C x h x w`` stacked dates and the ``h x w`` mask where both dates hold data."""
    from rasterio.windows import Window

    indexes = list(bands) if bands else None
    data, valid = [], np.ones((h, w), dtype=bool)
    for src, (row, col) in zip(srcs, ((ov.row1, ov.col1), (ov.row2, ov.col2))):
        win = Window(col + c, row + r, w, h)
        data.append(src.read(indexes=indexes, window=win))
        valid &= (src.read_masks(indexes=indexes, window=win) > 0).any(axis=0)
    return np.concatenate(data, axis=0), valid


def change_map_geotiff(
    predict_fn: Callable[[torch.Tensor], torch.Tensor],
    date1_path: str,
    date2_path: str,
    dst_path: str,
    tile: int = 512,
    overlap: int = 128,
    batch_size: int = 4,
    block: int | None = None,
    bands: Sequence[int] | None = None,
    nodata_value: int = DEFAULT_NODATA,
    num_classes: int = 2,
    progress: bool = True,
    gdal_cache_mb: int = 16,
) -> str:
    """Write the change map of the overlap of ``date1_path`` and ``date2_path`` to ``dst_path``.

    Args:
        predict_fn: tiles ``N x 2C x h x w`` (date 1's bands, then date 2's; the rasters'
            dtype) -> probabilities ``N x num_classes x h x w`` (e.g.
            ``segmentor_predict_fn(change_detector)``).
        tile, overlap, batch_size, block: tiling as in ``segment_geotiff``.
        bands: 1-based bands read from both scenes, in the model's order (default: all; the
            scenes must then have the same band count).
        nodata_value: written where either date has no data.
        num_classes: classes the model predicts (2: unchanged / changed).
        gdal_cache_mb: GDAL's block cache for this call (memory must not grow with the scene).
    Returns:
        ``dst_path``.
    """
    import rasterio

    if not 0 < num_classes <= nodata_value:
        raise ValueError(f'num_classes must be in 1..{nodata_value}, got {num_classes}')
    for path in (date1_path, date2_path):
        if not osp.isfile(path):
            raise FileNotFoundError(f'input scene {path} does not exist')
    with rasterio.Env(GDAL_CACHEMAX=gdal_cache_mb * 2**20):
        try:
            src1 = rasterio.open(date1_path)
            src2 = rasterio.open(date2_path)
        except rasterio.errors.RasterioIOError as e:
            raise ValueError(f'cannot open the input scenes as rasters: {e}') from e
        with src1, src2:
            return _change_map(
                (src1, src2),
                dst_path,
                predict_fn,
                tile,
                overlap,
                batch_size,
                block,
                bands,
                nodata_value,
                num_classes,
                progress,
            )


def _check_bands(srcs, bands: Sequence[int] | None) -> None:
    for src in srcs:
        if bands:
            bad = [b for b in bands if not 1 <= b <= src.count]
            if bad:
                raise ValueError(
                    f'{src.name} has {src.count} bands; band indexes {bad} do not exist'
                )
    if not bands and srcs[0].count != srcs[1].count:
        raise ValueError(
            f'{srcs[0].name} has {srcs[0].count} bands and {srcs[1].name} '
            f'{srcs[1].count}: the dates must have the same bands (or pass bands)'
        )


def _change_map(
    srcs,
    dst_path,
    predict_fn,
    tile,
    overlap,
    batch_size,
    block,
    bands,
    nodata_value,
    num_classes,
    progress,
) -> str:
    import rasterio
    from rasterio.windows import Window
    from tqdm import tqdm

    _check_bands(srcs, bands)
    ov = pair_overlap(*srcs)
    H, W = ov.height, ov.width
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
        crs=ov.crs,
        transform=ov.transform,
        nodata=nodata_value,
        compress='deflate',
    )
    if H >= 256 and W >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    dst_dir = osp.dirname(osp.abspath(dst_path))
    os.makedirs(dst_dir, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(suffix='.tif.partial', dir=dst_dir)
    os.close(fd)
    n_tiles = sum(len(grid.tiles_touching(*b)) for b in _blocks(H, W, block))
    bar = tqdm(
        total=n_tiles,
        unit='tile',
        disable=not progress,
        desc=f'change {osp.basename(srcs[0].name)} -> {osp.basename(srcs[1].name)}',
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
                    reads = [_read_pair_tile(srcs, ov, r, c, th, tw, bands) for r, c in batch]
                    probs = predict_fn(torch.from_numpy(np.stack([d for d, _ in reads])))
                    if tuple(probs.shape) != (len(batch), num_classes, th, tw):
                        raise ValueError(
                            f'predict_fn returned {tuple(probs.shape)}, expected '
                            f'{(len(batch), num_classes, th, tw)}'
                        )
                    for (r, c), p, (_, v) in zip(batch, probs, reads):
                        ys, ye, xs, xe = max(r, y0), min(r + th, y1), max(c, x0), min(c + tw, x1)
                        w_ = weight[ys - r : ye - r, xs - c : xe - c]
                        acc[:, ys - y0 : ye - y0, xs - x0 : xe - x0] += (
                            p[:, ys - r : ye - r, xs - c : xe - c] * w_
                        )
                        wsum[ys - y0 : ye - y0, xs - x0 : xe - x0] += w_
                        # a pixel is valid when both dates hold data there
                        valid[ys - y0 : ye - y0, xs - x0 : xe - x0] = v[
                            ys - r : ye - r, xs - c : xe - c
                        ]
                    bar.update(len(batch))
                if not bool((wsum > 0).all()):
                    raise RuntimeError('tile grid left pixels of the overlap uncovered')
                classes = (acc / wsum).argmax(0).numpy().astype(np.uint8)
                classes[~valid] = nodata_value
                dst.write(classes[None], window=Window(x0, y0, x1 - x0, y1 - y0))
        os.replace(tmp_path, dst_path)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise
    finally:
        bar.close()
    return dst_path


def _stretch(img: np.ndarray, valid: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(img[:, valid], (2, 98)) if valid.any() else (0.0, 1.0)
    out = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1).transpose(1, 2, 0)
    out[~valid] = 0
    return out


def write_change_preview(
    change_map_path: str,
    png_path: str,
    date1_path: str,
    date2_path: str,
    image_bands: Sequence[int] = (1, 2, 3),
    max_size: int = 768,
) -> str:
    """A PNG of the two dates over the overlap (``image_bands``, contrast-stretched) beside the
    change map, read decimated so large scenes stay cheap."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import rasterio
    from matplotlib.patches import Patch
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    with rasterio.open(change_map_path) as cm:
        scale = max(cm.height, cm.width) / max_size
        h, w = (
            (max(1, int(cm.height / scale)), max(1, int(cm.width / scale)))
            if scale > 1
            else (cm.height, cm.width)
        )
        classes = cm.read(1, out_shape=(h, w), resampling=Resampling.nearest)
        nodata = cm.nodata
    panels = []
    with rasterio.open(date1_path) as s1, rasterio.open(date2_path) as s2:
        ov = pair_overlap(s1, s2)
        for src, (row, col) in ((s1, (ov.row1, ov.col1)), (s2, (ov.row2, ov.col2))):
            win = Window(col, row, ov.width, ov.height)
            bands = [b for b in image_bands if b <= src.count] or [1]
            img = src.read(
                bands, window=win, out_shape=(len(bands), h, w), resampling=Resampling.average
            ).astype(np.float32)
            valid = src.read_masks(1, window=win, out_shape=(h, w)) > 0
            panels.append((osp.basename(src.name), _stretch(img, valid)))
    rgb = np.zeros((h, w, 3), dtype=np.uint8)
    for i, colour in enumerate(CHANGE_PALETTE):
        rgb[classes == i] = colour
    fig, axes = plt.subplots(
        1, 3, figsize=(15, 5 * h / w + 0.8), dpi=100, squeeze=False, layout='constrained'
    )
    for ax, (title, img) in zip(axes[0, :2], panels):
        ax.imshow(img.squeeze() if img.shape[-1] == 1 else img, cmap='gray')
        ax.set_title(title)
    axes[0, 2].imshow(rgb, interpolation='nearest')
    axes[0, 2].set_title('change map')
    for ax in axes[0]:
        ax.set_axis_off()
    handles = [
        Patch(color=np.array(c) / 255, label=n) for n, c in zip(CHANGE_CLASSES, CHANGE_PALETTE)
    ]
    if nodata is not None and (classes == nodata).any():
        handles.append(Patch(color='black', label='no data (either date)'))
    fig.legend(handles=handles, loc='outside lower center', ncol=len(handles), frameon=False)
    fig.savefig(png_path, bbox_inches='tight')
    plt.close(fig)
    return png_path


__all__ = [
    'PairOverlap',
    'pair_overlap',
    'change_map_geotiff',
    'write_change_preview',
    'CHANGE_CLASSES',
]
