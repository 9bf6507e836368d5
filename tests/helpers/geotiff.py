"""Writing the small GeoTIFFs the tests read: one function, with the profile the tests vary."""

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

#: the tests' default grid: UTM 33N, north-west corner, 1 m pixels
CRS = 'EPSG:32633'
ORIGIN = (500000.0, 4100000.0)


def write_geotiff(
    path: str | Path,
    data: np.ndarray,
    res: float = 1.0,
    origin: tuple[float, float] = ORIGIN,
    crs: str | None = CRS,
    transform=None,
    nodata: float | None = None,
    block: int | None = None,
    tags: dict | None = None,
    **profile,
) -> str:
    """Write ``data`` (``C x H x W``) as a GeoTIFF; returns the path.

    The grid is ``transform``, else square ``res`` pixels from ``origin`` (north-west corner);
    ``crs=None`` writes a raster without CRS nor transform. ``block`` tiles the file in blocks
    of that side; ``profile`` adds or overrides GDAL creation options (``compress``, ...).
    """
    if data.ndim != 3:
        raise ValueError(f'write_geotiff({path}): data must be C x H x W, got {data.shape}')
    count, h, w = data.shape
    fields = dict(driver='GTiff', height=h, width=w, count=count, dtype=data.dtype, nodata=nodata)
    if crs is not None:
        fields.update(crs=crs, transform=transform or from_origin(*origin, res, res))
    if block:
        fields.update(tiled=True, blockxsize=block, blockysize=block)
    fields.update(profile)
    with rasterio.open(path, 'w', **fields) as dst:
        dst.write(data)
        if tags:
            dst.update_tags(**tags)
    return str(path)
