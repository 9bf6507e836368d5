"""PNG previews of class maps (with a legend, beside the input image), read decimated so that
a map of any size stays cheap to draw."""

import os.path as osp
from collections.abc import Sequence

import numpy as np


def write_preview(
    class_map_path: str,
    png_path: str,
    class_names: Sequence[str],
    palette: Sequence[Sequence[int]] | None = None,
    max_size: int = 1024,
    title: str | None = None,
    image_path: str | None = None,
    image_bands: Sequence[int] = (1, 2, 3),
) -> str:
    """A PNG of the class map with a legend, read decimated so large maps stay cheap.

    With ``image_path`` the input image (``image_bands``, contrast-stretched) is shown beside it.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import rasterio
    from matplotlib.patches import Patch
    from rasterio.enums import Resampling

    with rasterio.open(class_map_path) as src:
        scale = max(src.height, src.width) / max_size
        h, w = (
            (max(1, int(src.height / scale)), max(1, int(src.width / scale)))
            if scale > 1
            else (src.height, src.width)
        )
        classes = src.read(1, out_shape=(h, w), resampling=Resampling.nearest)
        nodata = src.nodata
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
    panels = 2 if image_path else 1
    fig, axes = plt.subplots(
        1, panels, figsize=(6 * panels, 6 * h / w), dpi=100, squeeze=False, layout='constrained'
    )
    ax = axes[0, -1]
    ax.imshow(rgb, interpolation='nearest')
    ax.set_axis_off()
    ax.set_title(title or 'class map')
    if image_path:
        with rasterio.open(image_path) as src:
            img = src.read(
                list(image_bands), out_shape=(len(image_bands), h, w), resampling=Resampling.average
            ).astype(np.float32)
            valid = src.read_masks(1, out_shape=(h, w)) > 0
        lo, hi = np.percentile(img[:, valid], (2, 98)) if valid.any() else (0.0, 1.0)
        img = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1).transpose(1, 2, 0)
        img[~valid] = 0
        axes[0, 0].imshow(img)
        axes[0, 0].set_axis_off()
        axes[0, 0].set_title(osp.basename(image_path))
    handles = [Patch(color=np.array(c) / 255, label=n) for n, c in zip(class_names, palette)]
    if nodata is not None and (classes == nodata).any():
        handles.append(Patch(color='black', label='no data'))
    fig.legend(
        handles=handles, loc='outside lower center', ncol=min(len(handles), 5), frameon=False
    )
    fig.savefig(png_path, bbox_inches='tight')
    plt.close(fig)
    return png_path
