"""Helpers of the patch converters (iSAID, Potsdam, FAIR1M): colour labels, and the polygon
geometry that decides which objects a patch keeps; the windows come from the one tiler."""

import numpy as np


def colours_to_ids(rgb: np.ndarray, palette: list[list[int]], unknown: int = 255) -> np.ndarray:
    """Map an ``H x W x 3`` colour-coded label to class ids (``unknown`` where no colour fits)."""
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    out = np.full(rgb.shape[:2], unknown, dtype=np.uint8)
    for idx, (r, g, b) in enumerate(palette):
        out[codes == ((r << 16) | (g << 8) | b)] = idx
    return out


def polygon_area(points: np.ndarray) -> float:
    """Area of a simple polygon ``N x 2`` (shoelace formula; orientation ignored)."""
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def clip_polygon(points: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The part of a convex or simple polygon ``N x 2`` inside the box ``[x0, x1] x [y0, y1]``.

    Sutherland-Hodgman clipping against the four sides in turn; the result may be empty
    (``0 x 2``). Exact for convex polygons (every box annotation is one).
    """

    def clip(poly, inside, cross):
        out = []
        for i in range(len(poly)):
            cur, prev = poly[i], poly[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(cross(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cross(prev, cur))
        return out

    def at_x(x):
        return lambda p, q: (x, p[1] + (q[1] - p[1]) * (x - p[0]) / (q[0] - p[0]))

    def at_y(y):
        return lambda p, q: (p[0] + (q[0] - p[0]) * (y - p[1]) / (q[1] - p[1]), y)

    poly = [tuple(p) for p in np.asarray(points, dtype=np.float64)]
    for inside, cross in (
        (lambda p: p[0] >= x0, at_x(x0)),
        (lambda p: p[0] <= x1, at_x(x1)),
        (lambda p: p[1] >= y0, at_y(y0)),
        (lambda p: p[1] <= y1, at_y(y1)),
    ):
        if not poly:
            break
        poly = clip(poly, inside, cross)
    return np.asarray(poly, dtype=np.float64).reshape(-1, 2)


def fraction_inside(points: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> float:
    """Area of the polygon inside the box over its whole area (mmrotate's split tool calls it
    the iof of the object and the window)."""
    area = polygon_area(points)
    if area <= 0:
        return 0.0
    inside = clip_polygon(points, x0, y0, x1, y1)
    return polygon_area(inside) / area if len(inside) >= 3 else 0.0
