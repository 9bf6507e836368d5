"""Box geometry: horizontal boxes ``(x1, y1, x2, y2)`` and rotated boxes ``(cx, cy, w, h,
angle)`` (mmrotate's ``rbox``, angle in radians), ``N x 4`` or ``N x 5`` tensors in one frame.

Used by the box sink of scene detection and by the merge of patch detections
(``mmskysense.apis.detection_merge``); the heavy kernels (rotated overlaps, corners) come from
mmcv / mmdet / mmrotate, imported when first needed.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def rbox_corners(rboxes: Tensor) -> Tensor:
    """Corners ``N x 4 x 2`` of rotated boxes, in mmrotate's order (``rbox2qbox``)."""
    from mmrotate.structures.bbox import rbox2qbox

    import mmskysense.compat  # noqa: F401  (lets mmrotate import on Python 3.11)

    return rbox2qbox(rboxes).reshape(-1, 4, 2)


def box_corners(bboxes: Tensor) -> Tensor:
    """Corners ``N x 4 x 2`` of horizontal boxes (``(x1, y1), (x2, y1), (x2, y2), (x1, y2)``)
    or rotated ones (``rbox_corners``)."""
    if bboxes.shape[-1] == 5:
        return rbox_corners(bboxes)
    x1, y1, x2, y2 = bboxes.unbind(-1)
    return torch.stack(
        [
            torch.stack([x1, y1], -1),
            torch.stack([x2, y1], -1),
            torch.stack([x2, y2], -1),
            torch.stack([x1, y2], -1),
        ],
        1,
    )


def box_extents(bboxes: Tensor) -> Tensor:
    """Axis-aligned extents ``N x 4`` (x_min, y_min, x_max, y_max) of horizontal or rotated
    boxes."""
    if bboxes.shape[-1] == 4:
        return bboxes
    corners = rbox_corners(bboxes)
    return torch.cat([corners.min(1).values, corners.max(1).values], dim=1)


def box_overlaps(a: Tensor, b: Tensor, mode: str = 'iou') -> Tensor:
    """Overlaps ``len(a) x len(b)`` of two sets of boxes of one type: intersection over union
    (``'iou'``) or over the area of each box of ``a`` (``'iof'``)."""
    if mode not in ('iou', 'iof'):
        raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}")
    if a.shape[-1] != b.shape[-1] or a.shape[-1] not in (4, 5):
        raise ValueError(
            f'boxes of shapes {tuple(a.shape)} and {tuple(b.shape)}: expected both N x 4 '
            '(horizontal) or both N x 5 (rotated)'
        )
    if a.shape[-1] == 4:
        from mmdet.structures.bbox import bbox_overlaps

        return bbox_overlaps(a.float(), b.float(), mode=mode)
    from mmcv.ops import box_iou_rotated

    return box_iou_rotated(a.float(), b.float(), mode=mode)


def shift_boxes(bboxes: Tensor, dx: float, dy: float) -> Tensor:
    """Boxes moved by ``(dx, dy)`` pixels (patch frame -> scene frame)."""
    out = bboxes.clone()
    if bboxes.shape[-1] == 4:
        out[:, 0::2] += dx
        out[:, 1:4:2] += dy
    else:
        out[:, 0] += dx
        out[:, 1] += dy
    return out


def truncated_by_window(
    bboxes: Tensor, window: Sequence[float], scene_size: tuple[int, int], margin: float = 2.0
) -> Tensor:
    """Which boxes (in scene pixels) reach within ``margin`` px of, or beyond, a border of the
    patch ``window = (x0, y0, x1, y1)`` that is not a border of the ``(height, width)`` scene."""
    x0, y0, x1, y1 = window
    height, width = scene_size
    ext = box_extents(bboxes)
    cut = torch.zeros(len(bboxes), dtype=torch.bool)
    if x0 > 0:
        cut |= ext[:, 0] <= x0 + margin
    if y0 > 0:
        cut |= ext[:, 1] <= y0 + margin
    if x1 < width:
        cut |= ext[:, 2] >= x1 - margin
    if y1 < height:
        cut |= ext[:, 3] >= y1 - margin
    return cut


def overlap_groups(extents: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Group ids ``N``: the connected components of "same class and extents overlap".

    No suppression ever crosses two groups, so merging group by group gives exactly the merge
    of the whole set, in time and memory that grow with the number of overlapping pairs
    instead of with ``N ** 2``. Pairs are found on a grid per class whose cells are as large as
    the class's largest box, so that a box touches at most 2 x 2 cells.
    """
    n = len(extents)
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    sizes = np.maximum(extents[:, 2] - extents[:, 0], extents[:, 3] - extents[:, 1])
    cell = np.ones(n)
    for c in np.unique(labels):
        cell[labels == c] = max(float(sizes[labels == c].max()), 1.0)
    c0 = np.floor(extents[:, :2] / cell[:, None]).astype(np.int64)
    c1 = np.floor(extents[:, 2:] / cell[:, None]).astype(np.int64)
    members, keys = [], []
    for dx in (0, 1):
        for dy in (0, 1):
            m = (c0[:, 0] + dx <= c1[:, 0]) & (c0[:, 1] + dy <= c1[:, 1])
            members.append(np.nonzero(m)[0])
            keys.append(np.stack([labels[m], c0[m, 0] + dx, c0[m, 1] + dy], 1))
    members, keys = np.concatenate(members), np.concatenate(keys)
    order = np.lexsort(keys.T[::-1])
    members, keys = members[order], keys[order]
    # boxes sharing a cell are contiguous: pair each with the ones d places further on
    pi, pj = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for d in range(1, len(members)):
        same = (keys[d:] == keys[:-d]).all(1)
        if not same.any():
            break
        pi.append(members[:-d][same])
        pj.append(members[d:][same])
    pi, pj = np.concatenate(pi), np.concatenate(pj)
    touch = (
        (extents[pi, 0] < extents[pj, 2])
        & (extents[pj, 0] < extents[pi, 2])
        & (extents[pi, 1] < extents[pj, 3])
        & (extents[pj, 1] < extents[pi, 3])
    )
    pi, pj = pi[touch], pj[touch]
    # connected components: hook the larger root onto the smaller, then compress paths
    parent = np.arange(n)
    while True:
        ri, rj = parent[pi], parent[pj]
        low = np.minimum(ri, rj)
        if (ri == rj).all():
            return parent
        np.minimum.at(parent, ri, low)
        np.minimum.at(parent, rj, low)
        while True:
            jumped = parent[parent]
            if (jumped == parent).all():
                break
            parent = jumped
