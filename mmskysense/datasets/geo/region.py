"""Geographic region ids for GCPL: a regular longitude/latitude grid over the globe.

SkySense V1 keeps prototypes for 4096 regions; a 64 x 64 grid of the globe gives exactly that.
A GeoTIFF tag ``REGION_ID`` on the HR file overrides the grid (docs/data_format.md).
"""


def lonlat_to_region_id(lon: float, lat: float, grid: tuple[int, int] = (64, 64)) -> int:
    """Row-major cell index of ``(lon, lat)`` in a ``grid = (n_lat, n_lon)`` over the globe."""
    n_lat, n_lon = grid
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f'(lon, lat) = ({lon}, {lat}) is not a geographic coordinate')
    col = min(int((lon + 180.0) / 360.0 * n_lon), n_lon - 1)
    row = min(int((90.0 - lat) / 180.0 * n_lat), n_lat - 1)
    return row * n_lon + col
