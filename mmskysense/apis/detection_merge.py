"""Merging detections made patch by patch back into one set per scene.

Used by large-scene detection (:mod:`mmskysense.apis.scene_detection`) and by the FAIR1M
submission tool, which merge the predictions of overlapping patches. Boxes are horizontal
``(x1, y1, x2, y2)`` or rotated ``(cx, cy, w, h, angle)`` in radians (mmrotate's ``rbox``).

An object cut by a patch border is seen whole by the neighbouring patch when the overlap is
larger than the object, and cut by the first. Plain NMS keeps both views when the cut view is
small (their IoU is then low), so the merge ranks views: a detection *truncated* by an inner
patch border (one that is not the scene's border) is dropped when a whole detection of the
same class covers at least ``iof_thr`` of it; whole detections are merged by class-wise NMS
(rotated NMS for rotated boxes) at ``iou_thr``, and the truncated ones that are left go through
the same NMS ranked below every whole one (objects larger than the overlap, seen cut by every
patch, stay as the best cut view).
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


def box_extents(bboxes: Tensor) -> Tensor:
    """Axis-aligned extents ``N x 4`` (x_min, y_min, x_max, y_max) of horizontal or rotated
    boxes."""
    if bboxes.shape[-1] == 4:
        return bboxes
    corners = rbox_corners(bboxes)
    return torch.cat([corners.min(1).values, corners.max(1).values], dim=1)


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


def _nms(bboxes: Tensor, scores: Tensor, labels: Tensor, iou_thr: float) -> Tensor:
    from mmcv.ops import batched_nms

    if len(bboxes) == 0:
        return torch.zeros(0, dtype=torch.long)
    kind = 'nms' if bboxes.shape[-1] == 4 else 'nms_rotated'
    _, keep = batched_nms(
        bboxes.float(),
        scores.float(),
        labels,
        dict(type=kind, iou_threshold=iou_thr),
        class_agnostic=False,
    )
    return keep


def _iof(a: Tensor, b: Tensor) -> Tensor:
    """Overlap ``len(a) x len(b)`` over the area of each box of ``a``."""
    if a.shape[-1] == 4:
        from mmdet.structures.bbox import bbox_overlaps

        return bbox_overlaps(a.float(), b.float(), mode='iof')
    from mmcv.ops import box_iou_rotated

    return box_iou_rotated(a.float(), b.float(), mode='iof')


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


def _merge_groups(
    bboxes: Tensor,
    scores: Tensor,
    groups: Tensor,
    truncated: Tensor,
    iou_thr: float,
    iof_thr: float,
) -> Tensor:
    """The merge of the module docstring, done inside each group of ``groups`` at once."""
    whole = torch.nonzero(~truncated).flatten()
    cut = torch.nonzero(truncated).flatten()
    keep = whole[_nms(bboxes[whole], scores[whole], groups[whole], iou_thr)]
    if len(cut) and len(keep):
        same_group = groups[cut][:, None] == groups[keep][None, :]
        covered = (_iof(bboxes[cut], bboxes[keep]) >= iof_thr) & same_group
        cut = cut[~covered.any(1)]
    if len(cut):
        # one NMS over the whole detections kept and the cut ones left, the whole ones ranked
        # first: a cut view overlapping a whole one (or another cut one) beyond iou_thr goes.
        # This also catches what the IoF test misses when mmcv's rotated overlap comes out too
        # low for nearly identical boxes (open-mmlab/mmcv#2621: 1/3 instead of 1).
        cand = torch.cat([keep, cut])
        rank = scores[cand].double() + 2.0 * (~truncated[cand]).double()
        keep = cand[_nms(bboxes[cand], rank, groups[cand], iou_thr)]
    return keep


#: boxes merged per call of the NMS kernels (their cost grows with the square of the count)
CHUNK = 512


def merge_detections(
    bboxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    iou_thr: float,
    truncated: Tensor | None = None,
    iof_thr: float = 0.7,
) -> Tensor:
    """Indices of the detections to keep, best score first (module docstring).

    Args:
        bboxes: ``N x 4`` or ``N x 5`` boxes in one frame (the scene's pixels).
        scores, labels: ``N`` scores and class indices.
        iou_thr: NMS threshold between detections of the same class.
        truncated: ``N`` bools, True for detections cut by an inner patch border.
        iof_thr: a truncated detection covered by a whole one of its class by at least this
            fraction of its area is dropped.
    """
    n = len(bboxes)
    if truncated is None:
        truncated = torch.zeros(n, dtype=torch.bool)
    if n == 0:
        return torch.zeros(0, dtype=torch.long)
    groups = overlap_groups(box_extents(bboxes).double().numpy(), labels.numpy())
    order = np.argsort(groups, kind='stable')
    bounds = np.flatnonzero(np.r_[True, groups[order][1:] != groups[order][:-1], True])
    sizes = np.diff(bounds)
    # a detection that overlaps no other of its class is kept as it is
    keep = [torch.from_numpy(order[bounds[:-1][sizes == 1]])]
    # the others, whole groups at a time, in chunks of about CHUNK boxes
    multi = [(s, e) for s, e in zip(bounds[:-1], bounds[1:]) if e - s > 1]
    i = 0
    while i < len(multi):
        j, count = i, 0
        while j < len(multi) and (count == 0 or count + multi[j][1] - multi[j][0] <= CHUNK):
            count += multi[j][1] - multi[j][0]
            j += 1
        idx = torch.from_numpy(np.concatenate([order[s:e] for s, e in multi[i:j]]))
        local = torch.from_numpy(groups[idx.numpy()])
        keep.append(
            idx[_merge_groups(bboxes[idx], scores[idx], local, truncated[idx], iou_thr, iof_thr)]
        )
        i = j
    keep = torch.cat(keep)
    return keep[scores[keep].argsort(descending=True, stable=True)]
