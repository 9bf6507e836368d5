"""The detection mAP of mmdet's ``VOCMetric`` and mmrotate's ``DOTAMetric``, with per-class APs.

Both libraries compute the per-class APs (``eval_map``, ``eval_rbbox_map``) and only log them
as a table; the paper reports the mean, and users compare per-class APs. These subclasses call
the same evaluation function with the same arguments as their parents, once, and return the
mean and every class's AP:

* ``{prefix}/mAP``: the mean over IoU thresholds of the mean AP over the classes that have
  ground truth, exactly the parent's value (not rounded);
* ``{prefix}/AP50`` (one per threshold): as the parent, rounded to 3 decimals;
* ``{prefix}/AP50/<class>``: the AP of each class with ground truth (classes without any are
  left out, as they are from the mean).

Values are fractions (0..1), as mmdet and mmrotate report them; the defaults are the VOC07
11-point AP at IoU 0.5, the DIOR, DIOR-R and FAIR1M protocol.
"""

from collections import OrderedDict
from collections.abc import Callable, Sequence

from mmdet.evaluation import VOCMetric
from mmdet.evaluation.functional import eval_map
from mmengine.logging import MMLogger
from mmrotate.evaluation import DOTAMetric, eval_rbbox_map

import mmskysense.compat  # noqa: F401  (lets mmrotate import on Python 3.11)
from mmskysense.registry import METRICS


def _classwise(
    evaluate: Callable[[float], tuple], iou_thrs: Sequence[float], classes: Sequence[str]
) -> dict[str, float]:
    logger: MMLogger = MMLogger.get_current_instance()
    out = OrderedDict()
    mean_aps: list[float] = []
    for iou_thr in iou_thrs:
        logger.info(f'\n{"-" * 15}iou_thr: {iou_thr}{"-" * 15}')
        mean_ap, per_class = evaluate(iou_thr)
        mean_aps.append(mean_ap)
        tag = f'AP{int(iou_thr * 100):02d}'
        out[tag] = round(mean_ap, 3)
        for name, result in zip(classes, per_class):
            if result['num_gts'] > 0:
                out[f'{tag}/{name}'] = float(result['ap'])
    out['mAP'] = sum(mean_aps) / len(mean_aps)
    out.move_to_end('mAP', last=False)
    return out


@METRICS.register_module()
class ClasswiseVOCMetric(VOCMetric):
    """mmdet's ``VOCMetric`` (horizontal boxes, legacy ``+1`` box sizes) with per-class APs."""

    def compute_metrics(self, results: list) -> dict[str, float]:
        if self.metric != 'mAP':
            return super().compute_metrics(results)
        gts, preds = zip(*results)
        classes = self.dataset_meta['classes']
        dataset = (
            'voc' if self.dataset_meta.get('dataset_type') in ('VOC2007', 'VOC2012') else classes
        )

        def evaluate(iou_thr):
            return eval_map(
                preds,
                gts,
                scale_ranges=self.scale_ranges,
                iou_thr=iou_thr,
                dataset=dataset,
                logger=MMLogger.get_current_instance(),
                eval_mode=self.eval_mode,
                use_legacy_coordinate=True,
            )

        return _classwise(evaluate, self.iou_thrs, classes)


@METRICS.register_module()
class ClasswiseDOTAMetric(DOTAMetric):
    """mmrotate's ``DOTAMetric`` (rotated boxes) with per-class APs; ``format_only`` and
    ``merge_patches`` behave as the parent's."""

    def compute_metrics(self, results: list) -> dict[str, float]:
        if self.merge_patches or self.format_only or self.metric != 'mAP':
            return super().compute_metrics(results)
        gts, preds = zip(*results)
        classes = self.dataset_meta['classes']
        dets = [pred['pred_bbox_scores'] for pred in preds]

        def evaluate(iou_thr):
            return eval_rbbox_map(
                dets,
                gts,
                scale_ranges=self.scale_ranges,
                iou_thr=iou_thr,
                use_07_metric=self.use_07_metric,
                box_type=self.predict_box_type,
                dataset=classes,
                logger=MMLogger.get_current_instance(),
            )

        return _classwise(evaluate, self.iou_thrs, classes)
