"""The changed-class scores and DynamicEarthNet's SCS against hand computations and an
independent plain-numpy reference."""

import math

import numpy as np
import pytest
import torch

from mmskysense.evaluation.metrics import ChangeDetectionMetric, SCSMetric


def _sample(gt, pred, **meta):
    return dict(
        gt_sem_seg=dict(data=torch.as_tensor(np.asarray(gt))[None]),
        pred_sem_seg=dict(data=torch.as_tensor(np.asarray(pred))[None]),
        **meta,
    )


def _run(metric, samples):
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


def test_changed_class_scores_by_hand():
    # 1 = changed, 255 = ignored. Pixel by pixel (gt/pred):
    #   image a: 1/1 TP, 1/0 FN, 0/1 FP, ignored | 0/0 TN, 0/0 TN, 1/1 TP, ignored
    #   image b: 1/1 TP, 1/0 FN, 0/0 TN
    #   -> TP 3, FP 1, FN 2, TN 3 over 9 pixels
    gt_a = [[1, 1, 0, 255], [0, 0, 1, 255]]
    pred_a = [[1, 0, 1, 1], [0, 0, 1, 0]]
    gt_b = [[1, 1, 0]]
    pred_b = [[1, 0, 0]]
    scores = _run(ChangeDetectionMetric(), [_sample(gt_a, pred_a), _sample(gt_b, pred_b)])
    assert scores['precision'] == pytest.approx(100 * 3 / 4)
    assert scores['recall'] == pytest.approx(100 * 3 / 5)
    assert scores['F1'] == pytest.approx(100 * 2 * 3 / (2 * 3 + 1 + 2))  # 66.67
    assert scores['IoU'] == pytest.approx(100 * 3 / 6)
    assert scores['OA'] == pytest.approx(100 * 6 / 9)


def test_changed_class_rejects_non_binary_labels():
    with pytest.raises(ValueError, match='not 0 / 1'):
        _run(ChangeDetectionMetric(), [_sample([[0, 2]], [[0, 1]], seg_map_path='x.png')])


# ---------------------------------------------------------------------------------------------
# SCS: a reference written from the formula, in plain numpy, without the metric's code
def reference_scs(cubes, num_classes=6, ignore=255):
    """``cubes``: {cube: (gt [T, H, W], pred [T, H, W])}, months in order."""
    tp = fp = fn = 0
    inter = np.zeros(num_classes)
    fp_k = np.zeros(num_classes)
    fn_k = np.zeros(num_classes)
    for gt, pred in cubes.values():
        for t in range(len(gt) - 1):
            g_change = gt[t] != gt[t + 1]  # raw labels, ignore included
            p_change = pred[t] != pred[t + 1]
            tp += np.sum(g_change & p_change)
            fp += np.sum(~g_change & p_change)
            fn += np.sum(g_change & ~p_change)
            g_next, p_next = gt[t + 1], pred[t + 1]
            scored = g_change & (g_next != ignore)  # changed and labelled in month t+1
            for k in range(num_classes):
                inter[k] += np.sum(scored & (g_next == k) & (p_next == k))
                fp_k[k] += np.sum(scored & (g_next != k) & (p_next == k))
                fn_k[k] += np.sum(scored & (g_next == k) & (p_next != k))
    bc = tp / (tp + fp + fn)
    union = inter + fp_k + fn_k
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    present = np.count_nonzero(inter + fn_k)  # classes in the changed ground truth
    sc = iou.sum() / present
    return 100 * (bc + sc) / 2, 100 * bc, 100 * sc


def _random_cubes(rng, num_cubes=3, months=24, size=12, num_classes=6):
    cubes = {}
    for c in range(num_cubes):
        gt = np.empty((months, size, size), dtype=np.uint8)
        pred = np.empty_like(gt)
        gt[0] = rng.integers(0, num_classes, (size, size))
        for t in range(1, months):
            # land cover mostly persists: ~15% of pixels change class from month to month
            flip = rng.random((size, size)) < 0.15
            gt[t] = np.where(flip, rng.integers(0, num_classes, (size, size)), gt[t - 1])
        unlabelled = rng.random(gt.shape) < 0.1
        gt[unlabelled] = 255
        for t in range(months):
            wrong = rng.random((size, size)) < 0.3
            base = np.where(gt[t] == 255, rng.integers(0, num_classes, (size, size)), gt[t])
            pred[t] = np.where(wrong, rng.integers(0, num_classes, (size, size)), base)
        cubes[f'{1300 + c}_{3000 + c}_13'] = (gt, pred)
    return cubes


def _scs_samples(cubes, rng):
    samples = []
    for cube, (gt, pred) in cubes.items():
        for t in range(len(gt)):
            year, month = 2018 + t // 12, t % 12 + 1
            path = f'/data/labels/{cube}_10N/Labels/Raster/{cube}/{cube}-{year}_{month:02d}_01.tif'
            samples.append(_sample(gt[t], pred[t], seg_map_path=path))
    order = rng.permutation(len(samples))  # the loader's order is not the months' order
    return [samples[i] for i in order]


def test_scs_equals_numpy_reference_on_random_cubes():
    rng = np.random.default_rng(0)
    cubes = _random_cubes(rng)
    scores = _run(
        SCSMetric(num_classes=6, ignore_index=255, months_per_cube=24), _scs_samples(cubes, rng)
    )
    scs, bc, sc = reference_scs(cubes)
    assert 5 < bc < 95 and 5 < sc < 95  # a case where every term matters
    assert scores['BC'] == pytest.approx(bc, abs=1e-9)
    assert scores['SC'] == pytest.approx(sc, abs=1e-9)
    assert scores['SCS'] == pytest.approx(scs, abs=1e-9)


def test_scs_hand_case():
    # one cube, three months, 3 classes, 255 = unlabelled; g = labels, p = predictions
    g = np.array(
        [[[0, 0, 1], [2, 255, 1]], [[0, 1, 1], [2, 2, 1]], [[0, 1, 2], [255, 2, 1]]], dtype=np.uint8
    )
    p = np.array(
        [[[0, 0, 1], [2, 2, 1]], [[0, 1, 1], [0, 2, 1]], [[0, 1, 1], [0, 2, 1]]], dtype=np.uint8
    )
    # months 1->2: label change at (0,1) and (1,1) (255 -> 2 counts), predicted at (0,1), (1,0)
    #   binary TP 1, FP 1, FN 1; semantic: (0,1) gt 1 / pred 1, (1,1) gt 2 / pred 2
    # months 2->3: label change at (0,2) and (1,0) (2 -> 255 counts), none predicted
    #   binary FN 2; semantic: (0,2) gt 2 / pred 1, (1,0) left out (label 255)
    # BC = 1 / (1 + 1 + 3) = 0.2
    # SC: class 1: I 1, FP 1, FN 0 -> 1/2; class 2: I 1, FP 0, FN 1 -> 1/2; class 0 absent
    #   -> (1/2 + 1/2) / 2 = 0.5;  SCS = (0.2 + 0.5) / 2 = 0.35
    # mIoU of the 3 months (labelled pixels): class 0 4/5, class 1 7/8, class 2 3/5
    samples = [
        _sample(g[t], p[t], cube_id='cube', year_month=f'2018-{t + 1:02d}') for t in (2, 0, 1)
    ]
    scores = _run(SCSMetric(num_classes=3), samples)
    assert scores['BC'] == pytest.approx(20.0)
    assert scores['SC'] == pytest.approx(50.0)
    assert scores['SCS'] == pytest.approx(35.0)
    assert scores['mIoU'] == pytest.approx(100 * (4 / 5 + 7 / 8 + 3 / 5) / 3)
    assert reference_scs({'cube': (g, p)}, num_classes=3) == pytest.approx((35.0, 20.0, 50.0))


def test_scs_checks_its_input():
    g = np.zeros((2, 2), dtype=np.uint8)
    with pytest.raises(ValueError, match='has 1 months, expected 24'):
        _run(SCSMetric(months_per_cube=24), [_sample(g, g, cube_id='c', year_month='2018-01')])
    with pytest.raises(ValueError, match='predicted labels must be in 0..5'):
        _run(SCSMetric(), [_sample(g, g + 6, cube_id='c', year_month='2018-01')])
    with pytest.raises(ValueError, match='cannot tell cube and month'):
        _run(SCSMetric(), [_sample(g, g, seg_map_path='labels/whatever.tif')])
    with pytest.raises(ValueError, match='same month twice'):
        _run(SCSMetric(), [_sample(g, g, cube_id='c', year_month='2018-01')] * 2)
    # no change anywhere: SC is 0 / 0, reported as NaN (and logged), not as a score
    scores = _run(
        SCSMetric(), [_sample(g, g, cube_id='c', year_month=m) for m in ('2018-01', '2018-02')]
    )
    assert math.isnan(scores['SC']) and math.isnan(scores['SCS'])
