"""CRS strings and names."""

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=64)
def _crs_from_string(crs: str) -> Any:
    from rasterio.crs import CRS

    return CRS.from_user_input(crs)


def crs_to_wkt(crs: str) -> str:
    """WKT of a CRS string (``EPSG:32633`` or WKT)."""
    return _crs_from_string(crs).to_wkt()


def crs_name(crs: Any) -> str:
    """``EPSG:<code>`` of a rasterio CRS when it has one, else its WKT (``'none'`` for None)."""
    if crs is None:
        return 'none'
    epsg = crs.to_epsg()
    return f'EPSG:{epsg}' if epsg else crs.to_wkt()
