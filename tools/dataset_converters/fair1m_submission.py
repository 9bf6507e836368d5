"""Turn patch predictions on FAIR1M test images into the organisers' submission format.

Predictions come from ``tools/test.py`` run on the test patches written by
``tools/dataset_converters/fair1m.py``, e.g. with
``configs/skysense_v2_det/*_fair1m-1024-submission.py`` (its test dataset is ``FAIR1MDataset``
with ``ann_file=''`` and ``data_prefix.img_path='test/images'``; it dumps the predictions to a
``.pkl``, as ``--out`` does). Each patch's rotated boxes are moved back onto its full image by
the patch's offset in ``patches.json``; detections of neighbouring patches are merged
(``mmskysense.apis.detection_merge``: detections cut by an inner patch border give way to whole
ones, then class-wise rotated NMS at ``--iou-thr``, mmrotate's 0.1 for merging DOTA patches).
One XML per test image is written::

    OUT/<id>.xml     annotation/source/filename = <id>.tif, objects/object/possibleresult/
                     {name, probability}, points/point "x,y" x 5 (the first repeated)

(every image gets a file, with no objects where nothing was found). ``--zip`` also writes
``OUT.zip`` holding the files under a ``test/`` folder. The folder is written to a temporary
name and renamed when complete.

Usage: python tools/dataset_converters/fair1m_submission.py preds.pkl \
           data/FAIR1M_split/test/patches.json -o work_dirs/fair1m_test [--zip]
"""

import argparse
import json
import os
import os.path as osp
import shutil
import zipfile
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from mmskysense.apis.detection_merge import merge_detections
from mmskysense.datasets.downstream.fair1m import FAIR1M_CLASSES, parse_patch_name, write_fair1m_xml
from mmskysense.structures.boxes import rbox_corners, shift_boxes, truncated_by_window


def _tensor(value) -> torch.Tensor:
    value = getattr(value, 'tensor', value)  # mmdet box types
    return torch.as_tensor(np.asarray(value) if not torch.is_tensor(value) else value)


def merge_image(
    patch_preds: list[dict],
    width: int,
    height: int,
    patch_size: int,
    iou_thr: float = 0.1,
    score_thr: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Merge the predictions of one image's patches; each item has ``x``, ``y`` (the patch
    offset) and ``bboxes`` (``N x 5`` rbox), ``scores``, ``labels`` in patch pixels."""
    boxes, scores, labels, cut = [], [], [], []
    for p in patch_preds:
        b = _tensor(p['bboxes']).double().reshape(-1, 5)
        s = _tensor(p['scores']).double().reshape(-1)
        lab = _tensor(p['labels']).long().reshape(-1)
        keep = s >= score_thr
        b = shift_boxes(b[keep], p['x'], p['y'])
        boxes.append(b)
        scores.append(s[keep])
        labels.append(lab[keep])
        cut.append(
            truncated_by_window(
                b, (p['x'], p['y'], p['x'] + patch_size, p['y'] + patch_size), (height, width)
            )
        )
    if not boxes:
        return dict(
            bboxes=torch.zeros(0, 5), scores=torch.zeros(0), labels=torch.zeros(0, dtype=torch.long)
        )
    boxes, scores, labels, cut = (torch.cat(v) for v in (boxes, scores, labels, cut))
    keep = merge_detections(boxes, scores, labels, iou_thr, truncated=cut)
    return dict(bboxes=boxes[keep], scores=scores[keep], labels=labels[keep])


def make_submission(
    results: Sequence[dict],
    patches_json: str,
    out_dir: str,
    classes: Sequence[str] = FAIR1M_CLASSES,
    iou_thr: float = 0.1,
    score_thr: float = 0.0,
    make_zip: bool = False,
) -> dict[str, int]:
    """Write one result XML per image of ``patches_json``; returns ``image id -> objects``."""
    with open(patches_json) as f:
        meta = json.load(f)
    offsets = {
        p[0]: (image_id, p[1], p[2])
        for image_id, info in meta['images'].items()
        for p in info['patches']
    }
    by_image = defaultdict(list)
    for i, result in enumerate(results):
        patch_id = osp.splitext(osp.basename(str(result.get('img_id', result.get('img_path')))))[0]
        if patch_id not in offsets:
            image_id, x, y = parse_patch_name(patch_id)  # raises when not a patch name
            if image_id not in meta['images']:
                raise KeyError(
                    f'prediction {i} is for patch {patch_id} of image {image_id}, '
                    f'which {patches_json} does not list'
                )
        else:
            image_id, x, y = offsets[patch_id]
        pred = result['pred_instances']
        boxes = _tensor(pred['bboxes'])
        if boxes.numel() and (boxes.ndim != 2 or boxes.shape[-1] != 5):
            raise ValueError(
                f'prediction {i} ({patch_id}) has no rotated boxes (N x 5): is it '
                'from an oriented detector?'
            )
        by_image[image_id].append(
            dict(x=x, y=y, bboxes=pred['bboxes'], scores=pred['scores'], labels=pred['labels'])
        )
    seen = {(i, q['x'], q['y']) for i, preds in by_image.items() for q in preds}
    missing = [
        i
        for i, info in meta['images'].items()
        for p in info['patches']
        if (i, p[1], p[2]) not in seen
    ]
    if missing:
        raise ValueError(
            f'{len(missing)} patches of {patches_json} have no prediction (e.g. of '
            f'image {missing[0]}): run tools/test.py on every test patch'
        )
    tmp = out_dir.rstrip('/') + '.partial'
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    counts = {}
    try:
        for image_id, info in sorted(meta['images'].items()):
            merged = merge_image(
                by_image.get(image_id, []),
                info['width'],
                info['height'],
                meta['patch_size'],
                iou_thr,
                score_thr,
            )
            corners = rbox_corners(merged['bboxes']).numpy() if len(merged['bboxes']) else []
            write_fair1m_xml(
                osp.join(tmp, image_id + '.xml'),
                info['file'],
                [classes[int(c)] for c in merged['labels']],
                list(corners),
                scores=merged['scores'].tolist(),
                width=info['width'],
                height=info['height'],
            )
            counts[image_id] = len(merged['labels'])
        if osp.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if make_zip:
        zip_path = out_dir.rstrip('/') + '.zip'
        with zipfile.ZipFile(zip_path + '.partial', 'w', zipfile.ZIP_DEFLATED) as z:
            for name in sorted(os.listdir(out_dir)):
                z.write(osp.join(out_dir, name), osp.join('test', name))
        os.replace(zip_path + '.partial', zip_path)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('predictions', help='.pkl written by tools/test.py --out')
    parser.add_argument('patches', help='patches.json of the converted test folder')
    parser.add_argument('-o', '--out-dir', required=True)
    parser.add_argument('--iou-thr', type=float, default=0.1)
    parser.add_argument('--score-thr', type=float, default=0.0)
    parser.add_argument('--zip', action='store_true')
    args = parser.parse_args(argv)
    from mmengine.fileio import load

    counts = make_submission(
        load(args.predictions),
        args.patches,
        args.out_dir,
        iou_thr=args.iou_thr,
        score_thr=args.score_thr,
        make_zip=args.zip,
    )
    print(f'wrote {len(counts)} result files ({sum(counts.values())} objects) to {args.out_dir}')


if __name__ == '__main__':
    main()
