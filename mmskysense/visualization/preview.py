"""PNG previews of class maps (with a legend, beside the input image), read decimated so that
a map of any size stays cheap to draw."""

import os.path as osp
from collections.abc import Sequence
from typing import Any

import numpy as np

from mmskysense.datasets.raster import open_raster, read_decimated


def preview_size(height: int, width: int, max_size: int) -> tuple[int, int]:
    """``(h, w)`` of a raster shown at most ``max_size`` pixels per side (never enlarged)."""
    scale = max(height, width) / max_size
    if scale <= 1:
        return height, width
    return max(1, int(height / scale)), max(1, int(width / scale))


def read_stretched(
    src: Any, bands: Sequence[int], out_shape: tuple[int, int], path: str, window: Any = None
) -> np.ndarray:
    """The image ``h x w x C`` (``src`` read decimated), stretched to 0..1 between the 2nd and
    98th percentiles of its valid pixels; no-data pixels black."""
    img, valid = read_decimated(src, bands, out_shape, 'average', path, window)
    img = img.astype(np.float32)
    lo, hi = np.percentile(img[:, valid], (2, 98)) if valid.any() else (0.0, 1.0)
    img = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1).transpose(1, 2, 0)
    img[~valid] = 0
    return img


def write_preview(
    class_map_path: str,
    png_path: str,
    class_names: Sequence[str],
    palette: Sequence[Sequence[int]] | None = None,
    max_size: int = 1024,
    title: str | None = None,
    image_path: str | Sequence[str] | None = None,
    image_bands: Sequence[int] = (1, 2, 3),
    nodata_label: str = 'no data',
) -> str:
    """A PNG of the class map with a legend, read decimated so large maps stay cheap.

    With ``image_path`` the input image (``image_bands`` that it has, contrast-stretched, over the
    class map's ground) is shown beside it; several paths (the dates of a change pair) are
    shown left to right. All are read decimated to at most ``max_size`` pixels per side.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    with open_raster(class_map_path, expected='a class map GeoTIFF') as src:
        h, w = preview_size(src.height, src.width, max_size)
        classes = read_decimated(src, [1], (h, w), 'nearest', class_map_path)[0][0]
        nodata = src.nodata
        map_bounds, map_crs = src.bounds, src.crs
    if palette is None:
        cmap = plt.get_cmap('tab20')
        palette = [tuple(int(255 * v) for v in cmap(i % 20)[:3]) for i in range(len(class_names))]
    if len(palette) < len(class_names):
        raise ValueError(f'palette has {len(palette)} colours for {len(class_names)} classes')
    rgb = np.zeros((h, w, 3), dtype=np.uint8)
    for i, colour in enumerate(palette[: len(class_names)]):
        rgb[classes == i] = colour
    if nodata is not None:
        rgb[classes == nodata] = (0, 0, 0)
    images = [image_path] if isinstance(image_path, str) else list(image_path or [])
    panels = len(images) + 1
    fig, axes = plt.subplots(
        1, panels, figsize=(6 * panels, 6 * h / w), dpi=100, squeeze=False, layout='constrained'
    )
    ax = axes[0, -1]
    ax.imshow(rgb, interpolation='nearest')
    ax.set_axis_off()
    ax.set_title(title or 'class map')
    for ax, path in zip(axes[0], images):
        with open_raster(path, expected='the input image') as src:
            bands = [b for b in image_bands if b <= src.count] or [1]
            # the image over the class map's ground (the map may cover part of it)
            window = src.window(*map_bounds) if src.crs == map_crs else None
            img = read_stretched(src, bands, (h, w), path, window)
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap='gray')
        ax.set_axis_off()
        ax.set_title(osp.basename(path))
    handles = [Patch(color=np.array(c) / 255, label=n) for n, c in zip(class_names, palette)]
    if nodata is not None and (classes == nodata).any():
        handles.append(Patch(color='black', label=nodata_label))
    fig.legend(
        handles=handles, loc='outside lower center', ncol=min(len(handles), 5), frameon=False
    )
    fig.savefig(png_path, bbox_inches='tight')
    plt.close(fig)
    return png_path
