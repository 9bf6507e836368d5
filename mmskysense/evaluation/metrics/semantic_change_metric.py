"""The semantic change segmentation score (SCS) of DynamicEarthNet (Toker et al., CVPR 2022),
computed as the official evaluator does (``codalab_eval/evaluate.py`` and
``semantic_change_segmentation.py`` of github.com/aysim/dynnet).

For every cube, its monthly label maps ``g_t`` and predicted maps ``p_t`` are ordered by month,
and for each pair of consecutive months ``(t, t+1)``:

* binary change: ``G = g_t != g_{t+1}``, ``P = p_t != p_{t+1}``, on EVERY pixel (the official
  evaluator compares the raw labels, the ignore value 255 included: a pixel unlabelled in one
  month and labelled in the next counts as changed);
* semantic change: where ``G``, the later month's label ``g_{t+1}`` against ``p_{t+1}``, with
  ``g_{t+1}`` = 255 left out.

Summed over all pairs of all cubes (one 2 x 2 matrix, one (K+1) x (K+1) matrix)::

    BC  = TP / (TP + FP + FN)        of the binary change class
    SC  = sum_k IoU_k / #{k : class k occurs in the ground truth of the changed pixels}
    SCS = (BC + SC) / 2

The evaluator also reports the mIoU of all months (its ``JaccardIndexMetric``: the mean over
the classes that occur in the labels or the predictions). All are in percent.

The metric groups the predictions itself: a sample's cube and month come from its metainfo
(``cube_id`` and ``year_month`` when present), else from the label file name as the official
evaluator parses it: ``<cube>-YYYY_MM_DD.<ext>``, the cube being the name without its last 11
characters. ``DynamicEarthNetDataset`` lists samples in split-file order, which need not be
grouped or sorted; the metric sorts each cube's months itself.
"""

import os.path as osp
import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from mmskysense.registry import METRICS

_LABEL_DATE = re.compile(r'(\d{4})_(\d{2})_(\d{2})$')


def cube_and_month(meta: dict) -> tuple[str, str]:
    """``(cube id, 'YYYY-MM')`` of a sample (see the module docstring)."""
    if meta.get('cube_id') is not None and meta.get('year_month') is not None:
        return str(meta['cube_id']), str(meta['year_month'])
    path = meta.get('seg_map_path')
    stem = osp.splitext(osp.basename(path or ''))[0]
    match = _LABEL_DATE.search(stem)
    if not match or len(stem) <= 11:
        raise ValueError(
            f'cannot tell cube and month of label {path!r}: expected a name '
            '"<cube>-YYYY_MM_DD.tif" (DynamicEarthNet) or cube_id / year_month '
            'in the metainfo'
        )
    return stem[:-11], f'{match.group(1)}-{match.group(2)}'


def _confusion(gt: np.ndarray, pred: np.ndarray, size: int) -> np.ndarray:
    return np.bincount((gt * size + pred).ravel(), minlength=size * size).reshape(size, size)


def official_miou(confusion: np.ndarray, present: str) -> float:
    """``sum IoU_k / #classes``, the official helpers' mean: ``present='gt'`` counts the
    classes with ground truth (SCS's ``_compute_miou``), ``'union'`` those with a non-empty
    union (``JaccardIndexMetric``)."""
    inter = np.diag(confusion).astype(np.float64)
    fn = confusion.sum(axis=1) - inter
    fp = confusion.sum(axis=0) - inter
    union = inter + fp + fn
    count = np.count_nonzero(inter + fn if present == 'gt' else union)
    if count == 0:
        return float('nan')
    return float((inter / np.maximum(union, 1e-15)).sum() / count)


@METRICS.register_module()
class SCSMetric(BaseMetric):
    """SCS, BC, SC (and mIoU) of monthly semantic maps, grouped by cube.

    Args:
        num_classes: evaluated classes (DynamicEarthNet: 6, snow & ice excluded).
        ignore_index: label of unevaluated pixels (255); must be >= ``num_classes``.
        months_per_cube: when given, every cube must have exactly this many months (the
            official evaluator assumes 24).
        collect_device, prefix: as mmengine's ``BaseMetric``.
    """

    def __init__(
        self,
        num_classes: int = 6,
        ignore_index: int = 255,
        months_per_cube: int | None = None,
        collect_device: str = 'cpu',
        prefix: str | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if ignore_index < num_classes:
            raise ValueError(
                f'ignore_index ({ignore_index}) must be >= num_classes ({num_classes})'
            )
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.months_per_cube = months_per_cube

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            cube, month = cube_and_month(sample)
            pred = np.asarray(sample['pred_sem_seg']['data'].squeeze().cpu()).astype(np.uint8)
            gt = np.asarray(sample['gt_sem_seg']['data'].squeeze().cpu()).astype(np.uint8)
            if pred.shape != gt.shape:
                raise ValueError(
                    f'{sample.get("seg_map_path")}: prediction {pred.shape} and '
                    f'label {gt.shape} differ in size'
                )
            if int(pred.max()) >= self.num_classes:
                raise ValueError(
                    f'{sample.get("seg_map_path")}: predicted labels must be in '
                    f'0..{self.num_classes - 1}, got {int(pred.max())}'
                )
            self.results.append(
                dict(cube=cube, month=month, gt=gt, pred=pred, path=sample.get('seg_map_path'))
            )

    def _to_index(self, label: np.ndarray) -> np.ndarray:
        """Labels as confusion-matrix indices: classes 0..K-1, ignore -> K."""
        out = label.astype(np.int64)
        out[label == self.ignore_index] = self.num_classes
        return out

    def _group(self, results: list[dict]) -> dict[str, list[dict]]:
        cubes: dict[str, list[dict]] = defaultdict(list)
        for r in results:
            cubes[r['cube']].append(r)
        for cube, frames in cubes.items():
            frames.sort(key=lambda r: r['month'])
            months = [r['month'] for r in frames]
            if len(set(months)) != len(months):
                raise ValueError(f'cube {cube!r} has the same month twice: {months}')
            if self.months_per_cube is not None and len(frames) != self.months_per_cube:
                raise ValueError(
                    f'cube {cube!r} has {len(frames)} months, expected '
                    f'{self.months_per_cube} ({months[0]} .. {months[-1]})'
                )
        return cubes

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        k = self.num_classes
        binary = np.zeros((2, 2), dtype=np.int64)
        semantic = np.zeros((k + 1, k + 1), dtype=np.int64)
        frames_conf = np.zeros((k + 1, k + 1), dtype=np.int64)
        cubes = self._group(results)
        pairs = 0
        for frames in cubes.values():
            for r in frames:
                frames_conf += _confusion(self._to_index(r['gt']), self._to_index(r['pred']), k + 1)
            for a, b in zip(frames[:-1], frames[1:]):
                if a['gt'].shape != b['gt'].shape:
                    raise ValueError(f'{a["path"]} and {b["path"]} differ in size')
                gt_change = a['gt'] != b['gt']
                pred_change = a['pred'] != b['pred']
                binary += _confusion(
                    gt_change.ravel().astype(np.int64), pred_change.ravel().astype(np.int64), 2
                )
                semantic += _confusion(
                    self._to_index(b['gt'][gt_change]), self._to_index(b['pred'][gt_change]), k + 1
                )
                pairs += 1
        semantic[k, :] = 0  # the ignore row, as the official removal matrix does
        frames_conf[k, :] = 0
        tp, fp, fn = binary[1, 1], binary[0, 1], binary[1, 0]
        bc = float(tp) / max(float(tp + fp + fn), 1e-15)
        sc = official_miou(semantic, present='gt')
        scores = dict(
            SCS=50.0 * (bc + sc),
            BC=100.0 * bc,
            SC=100.0 * sc,
            mIoU=100.0 * official_miou(frames_conf, present='union'),
        )
        logger: MMLogger = MMLogger.get_current_instance()
        print_log(
            f'SCS over {len(cubes)} cubes, {pairs} pairs of consecutive months: '
            f'SCS {scores["SCS"]:.2f} = (BC {scores["BC"]:.2f} + SC {scores["SC"]:.2f})'
            f' / 2; mIoU of all months {scores["mIoU"]:.2f}',
            logger=logger,
        )
        if pairs == 0:
            print_log(
                'SCS: no cube has two months; BC and SC are undefined', logger=logger, level=30
            )
        elif np.isnan(sc):
            print_log(
                'SCS: no labelled pixel changes class between consecutive months, SC '
                'is undefined (NaN)',
                logger=logger,
                level=30,
            )
        return scores
