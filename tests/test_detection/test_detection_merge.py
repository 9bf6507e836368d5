"""Merging patch detections: whole views win over views cut by a patch border, and merging
group by group gives the libraries' class-wise NMS over the whole set."""

import math

import numpy as np
import pytest
import torch

from mmskysense.apis.detection_merge import merge_detections
from mmskysense.structures.boxes import overlap_groups, truncated_by_window


def _random(n, rotated, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 400
    wh = 5 + torch.rand(n, 2, generator=g, dtype=torch.float64) * 40
    scores = torch.rand(n, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (n,), generator=g)
    if rotated:
        angle = (torch.rand(n, 1, generator=g, dtype=torch.float64) - 0.5) * math.pi
        return torch.cat([xy, wh, angle], 1), scores, labels
    return torch.cat([xy, xy + wh], 1), scores, labels


@pytest.mark.parametrize('rotated', [False, True])
def test_grouped_merge_equals_nms_over_everything(rotated):
    """Without cut views the merge is class-wise NMS: torchvision's (horizontal) and mmcv's
    rotated NMS (rotated) over the whole set, in one call each, give the same detections."""
    bboxes, scores, labels = _random(600, rotated, seed=1)
    keep = merge_detections(bboxes, scores, labels, iou_thr=0.3)
    if rotated:
        from mmcv.ops import batched_nms

        _, ref = batched_nms(
            bboxes.float(), scores.float(), labels, dict(type='nms_rotated', iou_threshold=0.3)
        )
    else:
        from torchvision.ops import batched_nms

        ref = batched_nms(bboxes, scores, labels, 0.3)
    assert 50 < len(keep) < 600
    assert sorted(keep.tolist()) == sorted(ref.tolist())
    assert (scores[keep][:-1] >= scores[keep][1:]).all()


def test_overlap_groups_are_the_connected_components():
    # a chain a-b-c, a lone box d, and e overlapping a but of another class
    ext = np.array(
        [[0, 0, 10, 10], [8, 0, 18, 10], [16, 0, 26, 10], [100, 100, 110, 110], [5, 5, 15, 15]],
        dtype=float,
    )
    groups = overlap_groups(ext, np.array([0, 0, 0, 0, 1]))
    assert groups[0] == groups[1] == groups[2]
    assert len({groups[0], groups[3], groups[4]}) == 3


def test_cut_view_gives_way_to_the_whole_one():
    # patch A (x 0..128) sees the object cut at its right border; patch B (x 80..208) whole
    whole = torch.tensor([[100.0, 40.0, 140.0, 70.0]])
    cut = torch.tensor([[100.0, 40.0, 128.0, 70.0]])
    bboxes = torch.cat([cut, whole])
    flags = torch.cat(
        [
            truncated_by_window(cut, (0, 0, 128, 128), (200, 208)),
            truncated_by_window(whole, (80, 0, 208, 128), (200, 208)),
        ]
    )
    assert flags.tolist() == [True, False]
    # the cut view scores higher and overlaps the whole one by IoU 0.7 only
    scores, labels = torch.tensor([0.95, 0.6]), torch.tensor([2, 2])
    assert merge_detections(bboxes, scores, labels, 0.8, truncated=flags).tolist() == [1]
    # plain NMS at the same threshold keeps both
    assert len(merge_detections(bboxes, scores, labels, 0.8)) == 2
    # another class is not a duplicate
    assert len(merge_detections(bboxes, scores, torch.tensor([1, 2]), 0.8, flags)) == 2
