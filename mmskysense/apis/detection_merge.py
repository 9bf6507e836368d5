"""Merging detections made patch by patch back into one set per scene.

The finish of the box sink of large-scene detection (:mod:`mmskysense.apis.scene.box_sink`) and
the merge of the FAIR1M submission tool, which merge the predictions of overlapping patches.
Boxes are horizontal ``(x1, y1, x2, y2)`` or rotated ``(cx, cy, w, h, angle)`` in radians
(mmrotate's ``rbox``); their geometry (extents, overlaps, overlap groups) is in
:mod:`mmskysense.structures.boxes`.

An object cut by a patch border is seen whole by the neighbouring patch when the overlap is
larger than the object, and cut by the first. Plain NMS keeps both views when the cut view is
small (their IoU is then low), so the merge ranks views: a detection *truncated* by an inner
patch border (one that is not the scene's border) is dropped when a whole detection of the
same class covers at least ``iof_thr`` of it; whole detections are merged by class-wise NMS
(rotated NMS for rotated boxes) at ``iou_thr``, and the truncated ones that are left go through
the same NMS ranked below every whole one (objects larger than the overlap, seen cut by every
patch, stay as the best cut view).
"""

import numpy as np
import torch
from torch import Tensor

from mmskysense.structures.boxes import box_extents, box_overlaps, overlap_groups


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
        covered = (box_overlaps(bboxes[cut], bboxes[keep], 'iof') >= iof_thr) & same_group
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
