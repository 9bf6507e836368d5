"""View geometry: how the pixels of a view relate to the ground, in one convention for the data
pipeline (which flips and rotates the arrays) and for the losses (which pair tokens over the same
ground).

A view (docs/interfaces.md) is a ground box ``(minx, miny, maxx, maxy)`` in the sample's CRS,
resampled north-up to an ``H x W`` crop (row 0 at ``maxy``), then flipped and rotated:
``pixels = rot90(flip(crop), k)`` with ``geo_ops = (hflip, vflip, k)``: flips first (hflip
reverses columns, vflip rows), then ``k`` counter-clockwise quarter turns as
``torch.rot90(x, k, dims=(-2, -1))``.

Point coordinates are continuous ``(col, row)``; pixel ``(i, j)`` covers ``[j, j + 1) x [i, i + 1)``
and its centre is ``(j + 0.5, i + 0.5)``. Sizes are always the crop's ``(H, W)`` before the
rotation (an odd ``k`` makes the view ``W x H``). Every function takes a batch: ``boxes`` is
``... x 4`` and ``geo_ops`` ``... x 3`` with the same leading shape, all on one device, and nothing
is read back to the host.

* :func:`apply_geo_ops` transforms arrays (the pipeline, ``GeoRandomFlipRotate``);
* :func:`geo_ops_to_points` / :func:`points_to_crop` transform point coordinates the same way;
* :func:`ground_to_view_pixels` / :func:`view_pixels_to_ground` link them to the ground;
* :func:`token_correspondence` pairs the tokens of two views over the same ground (MGCL).
"""

import numpy as np
import torch
from torch import Tensor

ArrayLike = np.ndarray | Tensor


def apply_geo_ops(array: ArrayLike, hflip: int, vflip: int, k: int) -> ArrayLike:
    """``rot90(flip(array), k)`` over the last two axes (numpy arrays come back contiguous)."""
    if isinstance(array, Tensor):
        if hflip:
            array = array.flip(-1)
        if vflip:
            array = array.flip(-2)
        return torch.rot90(array, k % 4, dims=(-2, -1)) if k % 4 else array
    if hflip:
        array = array[..., ::-1]
    if vflip:
        array = array[..., ::-1, :]
    if k % 4:
        array = np.rot90(array, k % 4, axes=(-2, -1))
    return np.ascontiguousarray(array)


def _split_ops(geo_ops: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    geo_ops = torch.as_tensor(geo_ops)
    if geo_ops.shape[-1] != 3:
        raise ValueError(f'geo_ops must be ... x 3 (hflip, vflip, k), got {tuple(geo_ops.shape)}')
    return geo_ops[..., 0] != 0, geo_ops[..., 1] != 0, geo_ops[..., 2].remainder(4)


def geo_ops_to_points(points: Tensor, geo_ops: Tensor, size: tuple[int, int]) -> Tensor:
    """Crop coordinates -> view coordinates: where :func:`apply_geo_ops` moves each point.

    Args:
        points: ``... x N x 2`` continuous ``(col, row)`` in the unflipped crop.
        geo_ops: ``... x 3``.
        size: the crop's ``(H, W)``: ints, or tensors ``... x 1`` (a size per view).
    """
    height, width = size
    hflip, vflip, k = (x[..., None] for x in _split_ops(geo_ops))
    col, row = points[..., 0], points[..., 1]
    col = torch.where(hflip, width - col, col)
    row = torch.where(vflip, height - row, row)
    # k quarter turns of torch.rot90(dims=(-2, -1)): pixel (r, c) of H x W goes to (W - 1 - c, r),
    # i.e. (col, row) -> (row, W - col), and the image becomes W x H
    out_col = torch.where(
        k == 0, col, torch.where(k == 1, row, torch.where(k == 2, width - col, height - row))
    )
    out_row = torch.where(
        k == 0, row, torch.where(k == 1, width - col, torch.where(k == 2, height - row, col))
    )
    return torch.stack([out_col, out_row], dim=-1)


def points_to_crop(points: Tensor, geo_ops: Tensor, size: tuple[int, int]) -> Tensor:
    """View coordinates -> crop coordinates, the inverse of :func:`geo_ops_to_points`."""
    height, width = size
    hflip, vflip, k = (x[..., None] for x in _split_ops(geo_ops))
    col_v, row_v = points[..., 0], points[..., 1]
    col = torch.where(
        k == 0, col_v, torch.where(k == 1, width - row_v, torch.where(k == 2, width - col_v, row_v))
    )
    row = torch.where(
        k == 0,
        row_v,
        torch.where(k == 1, col_v, torch.where(k == 2, height - row_v, height - col_v)),
    )
    col = torch.where(hflip, width - col, col)
    row = torch.where(vflip, height - row, row)
    return torch.stack([col, row], dim=-1)


def _box(boxes: Tensor) -> tuple[Tensor, ...]:
    boxes = torch.as_tensor(boxes)
    if boxes.shape[-1] != 4:
        raise ValueError(
            f'boxes must be ... x 4 (minx, miny, maxx, maxy), got {tuple(boxes.shape)}'
        )
    return tuple(b[..., None] for b in boxes.double().unbind(-1))


def ground_to_crop(xy: Tensor, boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Ground ``... x N x 2`` ``(x, y)`` -> continuous crop ``(col, row)`` of a north-up crop."""
    minx, miny, maxx, maxy = _box(boxes)
    height, width = size
    xy = xy.double()
    col = (xy[..., 0] - minx) / (maxx - minx) * width
    row = (maxy - xy[..., 1]) / (maxy - miny) * height
    return torch.stack([col, row], dim=-1)


def crop_to_ground(points: Tensor, boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Continuous crop ``(col, row)`` -> ground ``(x, y)``, the inverse of ``ground_to_crop``."""
    minx, miny, maxx, maxy = _box(boxes)
    height, width = size
    points = points.double()
    x = minx + points[..., 0] / width * (maxx - minx)
    y = maxy - points[..., 1] / height * (maxy - miny)
    return torch.stack([x, y], dim=-1)


def ground_to_view_pixels(
    xy: Tensor, boxes: Tensor, geo_ops: Tensor, size: tuple[int, int]
) -> Tensor:
    """Continuous view ``(col, row)`` of ground points ``xy`` (``... x N x 2``, CRS units)."""
    return geo_ops_to_points(ground_to_crop(xy, boxes, size), geo_ops, size)


def view_pixels_to_ground(
    points: Tensor, boxes: Tensor, geo_ops: Tensor, size: tuple[int, int]
) -> Tensor:
    """Ground ``(x, y)`` of continuous view coordinates; the inverse of the above."""
    return crop_to_ground(points_to_crop(points.double(), geo_ops, size), boxes, size)


def view_grid(grid: tuple[int, int], geo_ops: Tensor) -> Tensor:
    """Centres of the cells of a view grid in view order (row-major over the view as it is):
    ``... x (h * w) x 2`` ``(col, row)``. ``grid`` is the view's ``(h, w)`` after the ops."""
    h, w = grid
    rows, cols = torch.meshgrid(
        torch.arange(h, dtype=torch.float64, device=geo_ops.device) + 0.5,
        torch.arange(w, dtype=torch.float64, device=geo_ops.device) + 0.5,
        indexing='ij',
    )
    centres = torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=-1)
    return centres.expand(*geo_ops.shape[:-1], h * w, 2)


def crop_size(grid: tuple[int, int], geo_ops: Tensor) -> tuple[Tensor, Tensor]:
    """``(H, W)`` of the crop behind each view grid ``(h, w)``: swapped where ``k`` is odd."""
    k_odd = _split_ops(geo_ops)[2].remainder(2) == 1
    h, w = grid  # Python numbers: no host-to-device copy (a synchronisation on a GPU)
    return torch.where(k_odd, w, h), torch.where(k_odd, h, w)


def token_correspondence(
    src_boxes: Tensor,
    src_ops: Tensor,
    src_grid: tuple[int, int],
    dst_boxes: Tensor,
    dst_ops: Tensor,
    dst_grid: tuple[int, int],
) -> Tensor:
    """For each token of a source view, the flat index (in view order) of the destination-view
    token whose cell holds the ground under the source token's centre, or -1 outside.

    A point on a cell border belongs to the cell east / south of it in the north-up crop, where
    the cells are defined; the ops then move whole cells, as they move pixels.

    Args:
        src_boxes, dst_boxes: ``B x 4`` ground boxes (``view_boxes``).
        src_ops, dst_ops: ``B x 3`` ``(hflip, vflip, k)`` (``view_geo_ops``).
        src_grid, dst_grid: ``(h, w)`` token grids of the views as they are (after the ops).

    Returns:
        ``B x (h_src * w_src)`` long, on the boxes' device.
    """
    for name, x, last in (
        ('src_boxes', src_boxes, 4),
        ('dst_boxes', dst_boxes, 4),
        ('src_ops', src_ops, 3),
        ('dst_ops', dst_ops, 3),
    ):
        if x.dim() != 2 or x.shape[1] != last:
            raise ValueError(
                f'token_correspondence: `{name}` must be B x {last}, got {tuple(x.shape)}'
            )
    src_ops, dst_ops = src_ops.to(src_boxes.device), dst_ops.to(src_boxes.device)
    # each sample's crop size (an odd k swaps h and w), as B x 1 to broadcast over tokens
    src_size = tuple(s[:, None].double() for s in crop_size(src_grid, src_ops))
    dst_size = tuple(s[:, None].double() for s in crop_size(dst_grid, dst_ops))
    # source token centres -> ground
    ground = view_pixels_to_ground(view_grid(src_grid, src_ops), src_boxes, src_ops, src_size)
    # ground -> the destination crop cell holding it
    crop = ground_to_crop(ground, dst_boxes, dst_size)
    dc, dr = torch.floor(crop[..., 0]), torch.floor(crop[..., 1])
    inside = (dc >= 0) & (dc < dst_size[1]) & (dr >= 0) & (dr < dst_size[0])
    # that cell's centre in the destination view, then its flat index there
    view = geo_ops_to_points(torch.stack([dc + 0.5, dr + 0.5], dim=-1), dst_ops, dst_size)
    idx = torch.floor(view[..., 1]).long() * dst_grid[1] + torch.floor(view[..., 0]).long()
    return torch.where(inside, idx, torch.full_like(idx, -1))
