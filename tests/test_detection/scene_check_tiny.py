"""Large-scene check (not a test): a detector fine-tuned by ``finetune_det_tiny.py`` run over a
generated georeferenced scene several patches wide, with objects like those it was trained on,
some of them on patch borders; prints how many objects were found once, missed or found twice.

    .venv/bin/python tests/test_detection/scene_check_tiny.py /tmp/ft_dior/finetuned_config.py \
        /tmp/ft_dior/finetuned.pth --work-dir /tmp/scene_dior
"""

import argparse
import json
import os
import os.path as osp
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fake_releases
from fake_releases import detection as fake  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--size', type=int, default=400, help='scene side in pixels')
    parser.add_argument('--tile', type=int, default=128)
    parser.add_argument('--overlap', type=int, default=48)
    parser.add_argument('--classes', type=int, nargs='+', default=[0, 3, 13, 18])
    parser.add_argument('--score-thr', type=float, default=0.3)
    args = parser.parse_args()

    import rasterio
    from mmcv.ops import box_iou_rotated
    from rasterio.transform import from_origin

    from mmskysense.apis import detect_geotiff, init_model
    from mmskysense.apis.scene_detection import detector_predict_fn, write_detection_preview

    os.makedirs(args.work_dir, exist_ok=True)
    rng = np.random.default_rng(7)
    img = fake.background(args.size, args.size, rng)
    # object sizes as in training (a fraction of the training image side, 128 px)
    objects = fake.place_objects(
        args.size, args.size, 40, args.classes, rng, (0.12 * args.tile, 0.3 * args.tile)
    )
    for corners, label in objects:
        fake.paint(img, corners, label)
    scene = osp.join(args.work_dir, 'scene.tif')
    with rasterio.open(
        scene,
        'w',
        driver='GTiff',
        height=args.size,
        width=args.size,
        count=3,
        dtype='uint8',
        crs='EPSG:32650',
        transform=from_origin(400000.0, 3500000.0, 0.5, 0.5),
    ) as dst:
        dst.write(img.transpose(2, 0, 1))
    model, meta = init_model(args.config, args.checkpoint)
    classes = meta.get('classes') or fake.DIOR_NAMES
    out = osp.join(args.work_dir, 'detections.geojson')
    dets = detect_geotiff(
        detector_predict_fn(model),
        scene,
        out,
        classes,
        tile=args.tile,
        overlap=args.overlap,
        score_thr=args.score_thr,
        progress=False,
    )
    write_detection_preview(scene, dets, osp.join(args.work_dir, 'detections.png'))

    # match at IoU >= 0.5: rotated IoU with the painted rectangles for an oriented detector,
    # horizontal IoU with their bounding boxes for a horizontal one
    labels = torch.tensor([lab for _, lab in objects])
    corners = np.array([c for c, _ in objects])
    if dets.bboxes.shape[-1] == 5:
        from mmrotate.structures.bbox import qbox2rbox

        import mmskysense.compat  # noqa: F401

        truth = qbox2rbox(torch.tensor(corners.reshape(-1, 8), dtype=torch.float32))
        iou = (
            box_iou_rotated(truth, dets.bboxes.float()) if len(dets) else torch.zeros(len(truth), 0)
        )
    else:
        from torchvision.ops import box_iou

        truth = torch.tensor(np.concatenate([corners.min(1), corners.max(1)], 1))
        iou = box_iou(truth, dets.bboxes.double())
    hits = (iou >= 0.5) & (labels[:, None] == dets.labels[None, :])
    per_object = hits.sum(1)
    from mmskysense.datasets.tiling import TileGrid

    grid = TileGrid(args.size, args.size, args.tile, args.overlap)
    edges = ({s for s in grid.rows} | {s + args.tile for s in grid.rows}) - {0, args.size}
    on_border = [
        bool(any(c[:, k].min() < e < c[:, k].max() for e in edges for k in (0, 1))) for c in corners
    ]
    report = dict(
        objects=len(objects),
        detections=len(dets),
        stats=dets.stats,
        found_once=int((per_object == 1).sum()),
        missed=int((per_object == 0).sum()),
        found_twice_or_more=int((per_object > 1).sum()),
        unmatched_detections=int((hits.sum(0) == 0).sum()),
        border_objects=int(sum(on_border)),
        border_objects_found_once=int(
            sum(b and int(n) == 1 for b, n in zip(on_border, per_object))
        ),
        geojson=out,
    )
    print(json.dumps(report))


if __name__ == '__main__':
    main()
