"""Binary change detection scores of the changed class (LEVIR-CD, OSCD; paper Table 2c: F1).

Pixels of all test images are pooled into one 2 x 2 confusion matrix (as BIT's evaluator and
mmseg's ``IoUMetric`` do: not a mean of per-image scores), ``ignore_index`` left out. For the
changed class c (index 1)::

    precision = TP / (TP + FP)     recall = TP / (TP + FN)
    F1 = 2 TP / (2 TP + FP + FN)   IoU = TP / (TP + FP + FN)      OA = (TP + TN) / N

reported in percent as ``change/F1`` ... ``change/OA``. A score whose denominator is 0 (no
changed pixel predicted nor present) is NaN, with a warning in the log.
"""

from collections.abc import Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from mmskysense.registry import METRICS


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) * 100.0 if den > 0 else float('nan')


def changed_class_scores(confusion: np.ndarray, changed_index: int = 1) -> dict[str, float]:
    """Precision, recall, F1, IoU of class ``changed_index`` and OA from a 2 x 2 confusion
    matrix (rows: ground truth, columns: prediction), in percent."""
    confusion = np.asarray(confusion, dtype=np.float64)
    c = changed_index
    tp = confusion[c, c]
    fp = confusion[:, c].sum() - tp
    fn = confusion[c, :].sum() - tp
    return dict(
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, tp + fn),
        F1=_ratio(2 * tp, 2 * tp + fp + fn),
        IoU=_ratio(tp, tp + fp + fn),
        OA=_ratio(np.trace(confusion), confusion.sum()),
    )


@METRICS.register_module()
class ChangeDetectionMetric(BaseMetric):
    """Scores of the changed class over all pixels of the evaluated images.

    Args:
        changed_index: label of the changed class (1: ``('unchanged', 'changed')``).
        ignore_index: label left out of the counts.
        collect_device, prefix: as mmengine's ``BaseMetric`` (default prefix ``'change'``).
    """

    default_prefix = 'change'

    def __init__(
        self,
        changed_index: int = 1,
        ignore_index: int = 255,
        collect_device: str = 'cpu',
        prefix: str | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if changed_index not in (0, 1):
            raise ValueError(f'changed_index must be 0 or 1, got {changed_index}')
        self.changed_index = changed_index
        self.ignore_index = ignore_index

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = np.asarray(sample['pred_sem_seg']['data'].squeeze().cpu()).astype(np.int64)
            gt = np.asarray(sample['gt_sem_seg']['data'].squeeze().cpu()).astype(np.int64)
            if pred.shape != gt.shape:
                raise ValueError(
                    f'{sample.get("img_path")}: prediction {pred.shape} and label '
                    f'{gt.shape} differ in size'
                )
            keep = gt != self.ignore_index
            bad = np.setdiff1d(np.unique(gt[keep]), (0, 1))
            if bad.size:
                raise ValueError(
                    f'{sample.get("seg_map_path")}: labels {bad.tolist()} are '
                    'not 0 / 1 (binary change)'
                )
            if pred.min() < 0 or pred.max() > 1:
                raise ValueError(f'{sample.get("img_path")}: predicted labels outside 0 / 1')
            confusion = np.bincount(gt[keep] * 2 + pred[keep], minlength=4).reshape(2, 2)
            self.results.append(confusion)

    def compute_metrics(self, results: list[np.ndarray]) -> dict[str, float]:
        logger: MMLogger = MMLogger.get_current_instance()
        confusion = np.sum(results, axis=0)
        scores = changed_class_scores(confusion, self.changed_index)
        other = changed_class_scores(confusion, 1 - self.changed_index)
        names = ('unchanged', 'changed') if self.changed_index == 1 else ('changed', 'unchanged')
        c = self.changed_index
        print_log(
            f'change detection over {int(confusion.sum())} pixels of {len(results)} '
            f'images; the headline F1 (change/F1) is that of class {c} ({names[c]!r}). '
            f'changed: P {scores["precision"]:.2f} R {scores["recall"]:.2f} '
            f'F1 {scores["F1"]:.2f} IoU {scores["IoU"]:.2f} | {names[1 - c]}: '
            f'F1 {other["F1"]:.2f} IoU {other["IoU"]:.2f} | OA {scores["OA"]:.2f}',
            logger=logger,
        )
        undefined = [k for k, v in scores.items() if np.isnan(v)]
        if undefined:
            tp = confusion[c, c]
            why = []
            if confusion[:, c].sum() == 0:
                why.append('no pixel is predicted changed')
            if confusion[c, :].sum() == 0:
                why.append('no pixel is labelled changed')
            print_log(
                f'change detection: {undefined} undefined (0 / 0, reported as NaN): '
                f'{" and ".join(why) or f"TP = {tp}"} in the evaluated images',
                logger=logger,
                level=30,
            )
        return scores
