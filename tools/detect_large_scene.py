# Detect objects in a GeoTIFF scene of any size with a trained detector (Faster R-CNN or
# Oriented R-CNN config), by overlapping patches; writes GeoJSON polygons in the scene's CRS.
#
#   python tools/detect_large_scene.py CONFIG CHECKPOINT SCENE.tif OUT.geojson [--preview OUT.png]
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmskysense.apis import detect_geotiff, detector_predict_fn, init_model
from mmskysense.apis.scene_detection import write_detection_preview


def parse_args():
    p = argparse.ArgumentParser(description='Object detection over a large GeoTIFF scene')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('scene', help='input GeoTIFF (or any raster GDAL reads)')
    p.add_argument('out', help='output .geojson (polygons in the scene CRS)')
    p.add_argument('--preview', help='PNG preview with the boxes (default: OUT with .png)')
    p.add_argument('--no-preview', action='store_true')
    p.add_argument(
        '--tile',
        type=int,
        default=None,
        help="patch size (default: the config's test resize, else 1024)",
    )
    p.add_argument(
        '--overlap', type=int, default=200, help='patch overlap; should exceed the largest object'
    )
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--score-thr', type=float, default=0.05)
    p.add_argument(
        '--iou-thr',
        type=float,
        default=None,
        help='NMS threshold of the merge (default 0.5 horizontal, 0.1 rotated)',
    )
    p.add_argument(
        '--bands',
        type=lambda s: [int(b) for b in s.split(',')],
        default=None,
        help='1-based bands to read, in the order the model was trained with (default 1,2,3 = RGB)',
    )
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args()


def test_scale(cfg) -> int:
    """The longest side of the test pipeline's resize, the patch size the model was tested at."""
    for step in cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', []):
        if str(step.get('type', '')).split('.')[-1] == 'Resize' and step.get('scale'):
            scale = step['scale']
            return int(max(scale) if isinstance(scale, (list, tuple)) else scale)
    return 1024


def class_names(cfg, meta: dict):
    if meta.get('classes'):
        return list(meta['classes'])
    from mmskysense.registry import DATASETS

    dataset = cfg.test_dataloader.dataset
    cls = DATASETS.get(dataset.get('type')) if dataset.get('type') else None
    classes = (dataset.get('metainfo') or {}).get('classes') or (
        getattr(cls, 'METAINFO', {}) or {}
    ).get('classes')
    if not classes:
        raise SystemExit(
            'the checkpoint holds no dataset_meta.classes and the config names no '
            'dataset with classes: cannot name the classes'
        )
    return list(classes)


def main():
    args = parse_args()
    model, meta = init_model(args.config, args.checkpoint, args.device, args.cfg_options)
    classes = class_names(model.cfg, meta)
    tile = args.tile or test_scale(model.cfg)
    dets = detect_geotiff(
        detector_predict_fn(model, args.device),
        args.scene,
        args.out,
        classes,
        tile=tile,
        overlap=args.overlap,
        batch_size=args.batch_size,
        bands=args.bands,
        score_thr=args.score_thr,
        iou_thr=args.iou_thr,
    )
    print(f'{len(dets)} detections ({dets.stats}) -> {args.out}')
    if not args.no_preview:
        png = args.preview or osp.splitext(args.out)[0] + '.png'
        write_detection_preview(args.scene, dets, png, bands=args.bands or (1, 2, 3))
        print(f'preview: {png}')


if __name__ == '__main__':
    main()
