"""Where a ground point lands in a view, and which pixels of two views show the same ground.

A view (docs/interfaces.md) is a ground box ``(minx, miny, maxx, maxy)`` in the sample's CRS,
resampled to ``H x W`` pixels (north up: row 0 is ``maxy``), then flipped and rotated:
``pixels = rot90(flip(crop), k)`` with ``geo_ops = (hflip, vflip, k)``. Pixel-level losses use
these helpers to match the same ground between two views of different boxes, sizes and GSDs.
Coordinates here are continuous pixel coordinates ``(col, row)`` with pixel ``(i, j)`` covering
``[j, j + 1) x [i, i + 1)``, so the centre of pixel ``(i, j)`` is ``(j + 0.5, i + 0.5)``.
"""

from collections.abc import Sequence
from typing import Union

import torch

BoxLike = Union[torch.Tensor, Sequence[float]]


def _as_float_tensor(
    value: torch.Tensor | Sequence[float] | Sequence[int], like: torch.Tensor
) -> torch.Tensor:
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def apply_geo_ops_to_points(
    points: torch.Tensor, geo_ops: Sequence[int], size: tuple[int, int]
) -> torch.Tensor:
    """Map continuous ``(col, row)`` points of the unflipped crop into the view's pixels.

    Args:
        points: ``N x 2`` float tensor of ``(col, row)`` in the crop of ``size = (H, W)``.
        geo_ops: ``(hflip, vflip, k)`` as recorded in ``view_geo_ops``.
        size: ``(H, W)`` of the crop before the rotation.
    """
    height, width = size
    hflip, vflip, k = (int(v) for v in geo_ops)
    col, row = points[..., 0].clone(), points[..., 1].clone()
    if hflip:
        col = width - col
    if vflip:
        row = height - row
    # torch.rot90(x, 1, dims=(-2, -1)) moves pixel (r, c) of an H x W image to (W - 1 - c, r):
    # in continuous coordinates (col, row) -> (row, W - col), and the image becomes W x H.
    for _ in range(k % 4):
        col, row = row, width - col
        height, width = width, height
    return torch.stack([col, row], dim=-1)


def _invert_geo_ops(
    points: torch.Tensor, geo_ops: Sequence[int], size: tuple[int, int]
) -> torch.Tensor:
    """Inverse of :func:`apply_geo_ops_to_points`; ``size`` is the crop's ``(H, W)``."""
    height, width = size
    hflip, vflip, k = (int(v) for v in geo_ops)
    k = k % 4
    col, row = points[..., 0].clone(), points[..., 1].clone()
    # size of the rotated image, then undo one quarter turn at a time: (c', r') = (r, W - c)
    # was produced from an image W wide, so c = W - r', r = c'.
    cur_h, cur_w = (height, width) if k % 2 == 0 else (width, height)
    for _ in range(k):
        prev_w = cur_h  # the image before this quarter turn was cur_w high and cur_h wide
        col, row = prev_w - row, col
        cur_h, cur_w = cur_w, cur_h
    if vflip:
        row = height - row
    if hflip:
        col = width - col
    return torch.stack([col, row], dim=-1)


def ground_to_view_pixels(
    xy: torch.Tensor, box: BoxLike, geo_ops: Sequence[int], size: tuple[int, int]
) -> torch.Tensor:
    """Continuous ``(col, row)`` view coordinates of ground points ``xy`` (``N x 2``, CRS units).

    ``size`` is the ``(H, W)`` of the view before rotation (for square views simply its size).
    """
    xy = torch.as_tensor(xy)
    if not torch.is_floating_point(xy):
        xy = xy.double()
    minx, miny, maxx, maxy = _as_float_tensor(box, xy).unbind(-1)
    height, width = size
    col = (xy[..., 0] - minx) / (maxx - minx) * width
    row = (maxy - xy[..., 1]) / (maxy - miny) * height
    return apply_geo_ops_to_points(torch.stack([col, row], dim=-1), geo_ops, size)


def view_pixels_to_ground(
    points: torch.Tensor, box: BoxLike, geo_ops: Sequence[int], size: tuple[int, int]
) -> torch.Tensor:
    """Ground ``(x, y)`` of continuous view coordinates ``(col, row)``; inverse of the above."""
    points = torch.as_tensor(points)
    if not torch.is_floating_point(points):
        points = points.double()
    crop = _invert_geo_ops(points, geo_ops, size)
    minx, miny, maxx, maxy = _as_float_tensor(box, points).unbind(-1)
    height, width = size
    x = minx + crop[..., 0] / width * (maxx - minx)
    y = maxy - crop[..., 1] / height * (maxy - miny)
    return torch.stack([x, y], dim=-1)


def view_correspondence_grid(
    box_a: BoxLike,
    geo_ops_a: Sequence[int],
    size_a: tuple[int, int],
    box_b: BoxLike,
    geo_ops_b: Sequence[int],
    size_b: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """For every pixel centre of view A, where the same ground lies in view B.

    Returns:
        grid: ``H_a x W_a x 2`` in ``torch.nn.functional.grid_sample`` convention
            (``align_corners=False``, x then y in ``[-1, 1]``), so that
            ``grid_sample(feat_b, grid[None])`` resamples B's features onto A's pixels.
        inside: ``H_a x W_a`` bool, True where that ground lies inside view B.
    """
    h_a, w_a = size_a
    # the pixels of the (rotated) view A: an odd k swaps its height and width
    k_a = int(geo_ops_a[2]) % 4
    view_h, view_w = (h_a, w_a) if k_a % 2 == 0 else (w_a, h_a)
    rows, cols = torch.meshgrid(
        torch.arange(view_h, dtype=torch.float64) + 0.5,
        torch.arange(view_w, dtype=torch.float64) + 0.5,
        indexing='ij',
    )
    pts_a = torch.stack([cols, rows], dim=-1).reshape(-1, 2)
    ground = view_pixels_to_ground(pts_a, box_a, geo_ops_a, size_a)
    pts_b = ground_to_view_pixels(ground, box_b, geo_ops_b, size_b)
    k_b = int(geo_ops_b[2]) % 4
    bh, bw = (size_b[0], size_b[1]) if k_b % 2 == 0 else (size_b[1], size_b[0])
    gx = pts_b[:, 0] / bw * 2 - 1
    gy = pts_b[:, 1] / bh * 2 - 1
    grid = torch.stack([gx, gy], dim=-1).reshape(view_h, view_w, 2)
    inside = ((gx >= -1) & (gx <= 1) & (gy >= -1) & (gy <= 1)).reshape(view_h, view_w)
    return grid.float(), inside
