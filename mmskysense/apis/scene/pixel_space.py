"""Scenes without georeference (a PNG / JPEG pair of LEVIR-CD, a DOTA PNG): their products are
in pixel space, and say so.

* A raster product (class map, change map, feature COG) keeps the input's pixel grid and gets no
  CRS and no geotransform, as the input: a GIS shows both the same way, one pixel per unit.
* A vector product (GeoJSON, GeoPackage: boxes, polygons, tile footprints) is written in an
  explicit local engineering CRS, ``PIXEL_CRS_WKT`` (``LOCAL_CS``: no datum on the Earth, unit
  the pixel), with ``x = column`` and ``y = -row`` of the input image. Why: GeoJSON without a
  ``crs`` member is longitude / latitude by RFC 7946, so pixel coordinates written bare are read
  as degrees by every GIS; GDAL (hence QGIS, pyogrio, geopandas) reads the ``crs`` member and
  the GeoPackage's ``gpkg_spatial_ref_sys`` as this engineering CRS, which no tool can take for
  a geographic one. ``y = -row`` is the convention GDAL-based viewers use to display a raster
  without geotransform (QGIS draws row r at y = -r), so the vectors lie on the image and on the
  raster products; the GeoJSON's ``mmskysense`` member says ``coordinates: "pixel"`` and how to
  get the row back.
"""

from typing import Any

#: the vector products' CRS of a scene without georeference
PIXEL_CRS_WKT = (
    'LOCAL_CS["mmskysense image pixels (x = column, y = -row; no georeference)",'
    'LOCAL_DATUM["image pixel grid",32767],UNIT["pixel",1],AXIS["X",EAST],AXIS["Y",NORTH]]'
)
#: said by the tools and written into the products' metadata
PIXEL_NOTE = (
    'no georeference (no CRS, no geotransform): read on its own pixel grid; the outputs are in '
    'pixel space: rasters without CRS, vectors in a local engineering CRS with x = column, '
    'y = -row of the input image (not longitude / latitude)'
)


def is_pixel_space(crs: Any) -> bool:
    """A scene without CRS, or a product already in ``PIXEL_CRS_WKT``."""
    if crs is None:
        return True
    from rasterio.crs import CRS

    return CRS.from_user_input(crs) == CRS.from_wkt(PIXEL_CRS_WKT)


def vector_georef(crs: Any, transform: Any) -> tuple[Any, Any]:
    """``(crs, transform)`` of a scene's vector products: the scene's own when it has a CRS;
    else ``PIXEL_CRS_WKT`` and the scene's pixel transform (identity when None) with its rows
    turned to ``y = -row``."""
    if crs is not None:
        return crs, transform
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    flip = Affine(1, 0, 0, 0, -1, 0)
    return CRS.from_wkt(PIXEL_CRS_WKT), flip * (
        transform if transform is not None else Affine.identity()
    )


def coordinates_kind(crs: Any) -> str:
    """``'map'`` or ``'pixel'``: what a vector product's coordinates are (its metadata)."""
    return 'pixel' if is_pixel_space(crs) else 'map'
