"""The ground sampling distance a model was trained at, against a scene's pixel size.

A downstream config may state it (``scene_gsd``, metres per pixel of its reference input);
``check_gsd`` warns (or, ``strict``, refuses) when a scene's pixel size is off by more than a
factor, and ``resampled_vrt`` gives a file read at another pixel size (a GDAL VRT over the
file, no pixel copied), so that a scene can be run at the model's GSD.
"""

import math
import os.path as osp
import warnings
from typing import Any
from xml.sax.saxutils import escape, quoteattr

DEFAULT_GSD_TOLERANCE = 1.5


class GSDWarning(UserWarning):
    """A scene's pixel size differs from the one its model was trained at."""


def model_gsd(cfg: Any) -> float | None:
    """The config's ``scene_gsd`` (metres per pixel of the model's reference input), or None."""
    gsd = cfg.get('scene_gsd') if hasattr(cfg, 'get') else None
    if gsd is None:
        return None
    gsd = float(gsd)
    if not gsd > 0:
        raise ValueError(f'scene_gsd must be a positive pixel size in metres, got {gsd}')
    return gsd


def pixel_size(transform: Any) -> float:
    """The side of a square of the pixel's area (``|a e - b d|``), in CRS units."""
    return math.sqrt(abs(transform.a * transform.e - transform.b * transform.d))


def check_gsd(
    scene_path: str,
    scene_gsd: float,
    gsd: float | None,
    tolerance: float = DEFAULT_GSD_TOLERANCE,
    strict: bool = False,
) -> str | None:
    """Warn (``GSDWarning``) when ``scene_gsd`` differs from the model's ``gsd`` by more than
    the factor ``tolerance`` either way; ``strict``: a ``ValueError`` instead. Returns the
    message, or None when within the tolerance (or the model's GSD is unknown)."""
    if tolerance < 1:
        raise ValueError(f'the GSD tolerance is a factor >= 1, got {tolerance}')
    if gsd is None:
        return None
    ratio = max(scene_gsd / gsd, gsd / scene_gsd)
    if ratio <= tolerance:
        return None
    msg = (
        f'{scene_path}: pixel size {scene_gsd:g} m, but the model was trained at {gsd:g} m '
        f'(scene_gsd of its config; a factor {ratio:.2f}, more than the tolerance {tolerance:g})'
        '; its objects will look larger or smaller than in training (--resample-to-model-gsd '
        "reads the scene at the model's GSD)"
    )
    if strict:
        raise ValueError(msg)
    warnings.warn(msg, GSDWarning, stacklevel=2)
    return msg


def _grid_range(lo: float, hi: float, anchor: float, step: float) -> tuple[int, int]:
    """Whole cells of ``step`` from ``anchor`` inside ``[lo, hi]``."""
    return math.ceil((lo - anchor) / step - 1e-6), math.floor((hi - anchor) / step + 1e-6)


def resampled_vrt(
    path: str, gsd: float, dst_dir: str, anchor: tuple[float, float] | None = None
) -> str:
    """A VRT of ``path`` with square pixels of ``gsd`` (north-up files), written in
    ``dst_dir``: its grid has a pixel corner at ``anchor`` (default the file's own origin; the
    files of one scene share one, so a change pair keeps whole-pixel offsets) and holds the
    whole pixels inside the file. Bands, nodata and tags are kept; GDAL averages when it
    shrinks and interpolates bilinearly when it enlarges. Returns the VRT's path."""
    from mmskysense.datasets.raster import gdal_path, open_raster

    with open_raster(path, expected='an input of the scene, a GeoTIFF') as src:
        t, w, h = src.transform, src.width, src.height
        if t.b or t.d or t.e >= 0:
            raise ValueError(f'{path}: only a north-up raster can be resampled')
        ax, ay = anchor if anchor is not None else (t.c, t.f)
        kx0, kx1 = _grid_range(t.c, t.c + w * t.a, ax, gsd)
        ky0, ky1 = _grid_range(ay - t.f, ay - (t.f + h * t.e), 0.0, gsd)
        nx, ny = kx1 - kx0, ky1 - ky0
        if nx < 1 or ny < 1:
            raise ValueError(f'{path}: smaller than one pixel of {gsd:g} m')
        x0, y0 = ax + kx0 * gsd, ay - ky0 * gsd
        src_rect = (
            f'<SrcRect xOff="{(x0 - t.c) / t.a!r}" yOff="{(t.f - y0) / -t.e!r}" '
            f'xSize="{nx * gsd / t.a!r}" ySize="{ny * gsd / -t.e!r}"/>'
            f'<DstRect xOff="0" yOff="0" xSize="{nx}" ySize="{ny}"/>'
        )
        method = 'average' if gsd > t.a else 'bilinear'
        types = {'uint8': 'Byte', 'uint16': 'UInt16', 'int16': 'Int16', 'uint32': 'UInt32'}
        types.update(int32='Int32', float32='Float32', float64='Float64')
        crs = f'<SRS>{escape(src.crs.to_wkt())}</SRS>' if src.crs is not None else ''
        tags = ''.join(f'<MDI key={quoteattr(k)}>{escape(v)}</MDI>' for k, v in src.tags().items())
        bands = []
        for b in range(1, src.count + 1):
            nd = src.nodatavals[b - 1]
            nodata = '' if nd is None else f'<NoDataValue>{nd!r}</NoDataValue>'
            src_nodata = '' if nd is None else f'<NODATA>{nd!r}</NODATA>'
            bands.append(
                f'<VRTRasterBand dataType="{types[src.dtypes[b - 1]]}" band="{b}">{nodata}'
                f'<ComplexSource resampling="{method}">'
                f'<SourceFilename relativeToVRT="0">{escape(gdal_path(path))}</SourceFilename>'
                f'<SourceBand>{b}</SourceBand>{src_rect}{src_nodata}</ComplexSource>'
                '</VRTRasterBand>'
            )
    doc = (
        f'<VRTDataset rasterXSize="{nx}" rasterYSize="{ny}">{crs}'
        f'<GeoTransform>{x0!r}, {gsd!r}, 0, {y0!r}, 0, {-gsd!r}</GeoTransform>'
        f'<Metadata>{tags}</Metadata>{"".join(bands)}</VRTDataset>'
    )
    stem = osp.splitext(osp.basename(path))[0]
    dst = osp.join(dst_dir, f'{stem}_at_{gsd:g}m.vrt')
    n = 1
    while osp.exists(dst):
        n += 1
        dst = osp.join(dst_dir, f'{stem}_at_{gsd:g}m_{n}.vrt')
    with open(dst, 'w') as f:
        f.write(doc)
    return dst
