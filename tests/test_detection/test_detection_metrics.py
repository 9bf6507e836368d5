"""The detection mAP (VOC07 11-point AP at IoU 0.5) on a small case worked out by hand, through
the metrics the configs use, and their agreement with mmdet's and mmrotate's own."""

import math

import numpy as np
import pytest
import torch

# Class 0 has two ground-truth boxes and one ignored (difficult) one; its detections, by score:
#   0.90 on the first box (TP), 0.85 on the ignored box (neither TP nor FP),
#   0.80 on nothing (FP), 0.70 on the second box (TP).
# Precision / recall after each counted detection: 1/0.5, 0.5/0.5, 2/3/1.
# 11-point AP: max precision at recall >= t for t = 0, 0.1, ..., 1:
#   t <= 0.5 (6 points): 1;  t >= 0.6 (5 points): 2/3.
AP_CLASS0 = (6 * 1.0 + 5 * (2.0 / 3.0)) / 11
# Class 1: one box, one detection overlapping it with IoU 0.11 (FP): AP 0.
AP_CLASS1 = 0.0
# Class 2 has no ground truth (a detection of it exists): left out of the mean.
MAP = (AP_CLASS0 + AP_CLASS1) / 2
CLASSES = ('a', 'b', 'c')

# horizontal boxes (x1, y1, x2, y2); the same objects as rotated boxes below
GT = [[10, 10, 50, 50], [60, 10, 90, 40]]
GT_LABELS = [0, 0]
IGNORED = [[150, 150, 190, 190]]
GT2 = [[10, 60, 40, 90]]
DETS = [  # box, score, label, image
    ([12, 12, 50, 50], 0.90, 0, 0),
    ([151, 151, 190, 190], 0.85, 0, 0),
    ([100, 100, 140, 140], 0.80, 0, 0),
    ([60, 10, 90, 42], 0.70, 0, 1),
    ([34, 60, 64, 90], 0.60, 1, 1),
    ([0, 0, 20, 20], 0.50, 2, 1),
]


def _hbox_to_rbox(b, angle=0.0):
    x1, y1, x2, y2 = b
    return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, angle]


def _samples(rotated):
    """Two images: image 0 holds the class-0 boxes 1 and the ignored one, image 1 the rest."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    conv = _hbox_to_rbox if rotated else (lambda b: b)
    dim = 5 if rotated else 4
    gts = {0: ([GT[0]], [0], IGNORED, [0]), 1: ([GT[1]] + GT2, [0, 1], [], [])}
    samples = []
    for img in (0, 1):
        boxes, labels, ign, ign_labels = gts[img]
        s = DetDataSample(metainfo=dict(img_id=str(img), img_shape=(200, 200)))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([conv(b) for b in boxes], dtype=torch.float32).reshape(-1, dim),
            labels=torch.tensor(labels),
        )
        s.ignored_instances = InstanceData(
            bboxes=torch.tensor([conv(b) for b in ign], dtype=torch.float32).reshape(-1, dim),
            labels=torch.tensor(ign_labels, dtype=torch.long),
        )
        mine = [d for d in DETS if d[3] == img]
        s.pred_instances = InstanceData(
            bboxes=torch.tensor([conv(d[0]) for d in mine], dtype=torch.float32).reshape(-1, dim),
            scores=torch.tensor([d[1] for d in mine]),
            labels=torch.tensor([d[2] for d in mine]),
        )
        samples.append(s.to_dict())
    return samples


def _evaluate(metric, samples):
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_hand_worked_map_voc():
    from mmskysense.evaluation.metrics import ClasswiseVOCMetric

    # the legacy (+1) box sizes of VOCMetric do not move any IoU across 0.5 here
    out = _evaluate(ClasswiseVOCMetric(eval_mode='11points', iou_thrs=0.5), _samples(False))
    assert math.isclose(out['mAP'], MAP, abs_tol=1e-6)
    assert math.isclose(out['AP50/a'], AP_CLASS0, abs_tol=1e-6)
    assert out['AP50/b'] == AP_CLASS1
    assert 'AP50/c' not in out  # no ground truth of class c
    assert out['AP50'] == round(MAP, 3)


def test_hand_worked_map_rotated():
    from mmskysense.evaluation.metrics import ClasswiseDOTAMetric

    out = _evaluate(ClasswiseDOTAMetric(eval_mode='11points', iou_thrs=0.5), _samples(True))
    assert math.isclose(out['mAP'], MAP, abs_tol=1e-6)
    assert math.isclose(out['AP50/a'], AP_CLASS0, abs_tol=1e-6)


def test_rotated_metric_uses_rotated_overlaps():
    """A square detected at 45 degrees: rotated IoU 1/sqrt(2) (a TP); the same square's
    horizontal bounding box would overlap the truth by 1/2 only."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from mmskysense.evaluation.metrics import ClasswiseDOTAMetric

    s = DetDataSample(metainfo=dict(img_id='0'))
    s.gt_instances = InstanceData(
        bboxes=torch.tensor([[50.0, 50.0, 40.0, 40.0, 0.0]]), labels=torch.tensor([0])
    )
    s.ignored_instances = InstanceData(bboxes=torch.zeros(0, 5), labels=torch.zeros(0).long())
    s.pred_instances = InstanceData(
        bboxes=torch.tensor([[50.0, 50.0, 40.0, 40.0, math.pi / 4]]),
        scores=torch.tensor([0.9]),
        labels=torch.tensor([0]),
    )
    out = _evaluate(ClasswiseDOTAMetric(iou_thrs=0.7), [s.to_dict()])
    assert out['mAP'] == pytest.approx(1.0)
    out = _evaluate(ClasswiseDOTAMetric(iou_thrs=0.72), [s.to_dict()])
    assert out['mAP'] == 0.0


@pytest.mark.parametrize('rotated', [False, True])
def test_same_mean_as_the_libraries_metric(rotated):
    """Our subclasses' mean equals the parent's (mmdet's VOCMetric, mmrotate's DOTAMetric) on
    random detections, at two thresholds."""
    from mmdet.evaluation import VOCMetric
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    from mmrotate.evaluation import DOTAMetric

    import mmskysense.compat  # noqa: F401
    from mmskysense.evaluation.metrics import ClasswiseDOTAMetric, ClasswiseVOCMetric

    rng = np.random.default_rng(0)
    samples = []
    for i in range(6):

        def boxes(n):
            xy = rng.uniform(0, 150, (n, 2))
            wh = rng.uniform(10, 50, (n, 2))
            if rotated:
                return np.hstack([xy, wh, rng.uniform(-1.5, 1.5, (n, 1))])
            return np.hstack([xy, xy + wh])

        g = boxes(5)
        p = np.vstack([g + rng.normal(0, 3, g.shape), boxes(4)])
        if rotated:
            p[:, 2:4] = np.abs(p[:, 2:4]) + 1
        s = DetDataSample(metainfo=dict(img_id=str(i)))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor(g, dtype=torch.float32), labels=torch.tensor(rng.integers(0, 3, 5))
        )
        s.ignored_instances = InstanceData(
            bboxes=torch.zeros(0, g.shape[1]), labels=torch.zeros(0).long()
        )
        s.pred_instances = InstanceData(
            bboxes=torch.tensor(p, dtype=torch.float32),
            scores=torch.tensor(rng.uniform(0, 1, 9)),
            labels=torch.tensor(rng.integers(0, 3, 9)),
        )
        samples.append(s.to_dict())
    ours_cls, theirs_cls = (
        (ClasswiseDOTAMetric, DOTAMetric) if rotated else (ClasswiseVOCMetric, VOCMetric)
    )
    ours = _evaluate(ours_cls(iou_thrs=[0.5, 0.75]), samples)
    theirs = _evaluate(theirs_cls(iou_thrs=[0.5, 0.75]), samples)
    assert 0 < ours['mAP'] < 1
    assert ours['mAP'] == theirs['mAP']
    assert ours['AP50'] == theirs['AP50'] and ours['AP75'] == theirs['AP75']
