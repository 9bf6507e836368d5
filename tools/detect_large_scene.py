# Detect objects in a GeoTIFF scene of any size with a trained detector (Faster R-CNN or
# Oriented R-CNN config), by overlapping patches; writes GeoJSON polygons in the scene's CRS.
#
#   python tools/detect_large_scene.py CONFIG CHECKPOINT SCENE.tif OUT.geojson [--preview OUT.png]
#
# The scene is checked (exists, is a complete raster with the bands asked for) and the output
# path too before the model is loaded; no output file is left behind by a failure.
import argparse
import os.path as osp

from mmengine.config import Config, DictAction


def parse_args(argv=None):
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
    return p.parse_args(argv)


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


def main(argv=None, load_model=None):
    """``load_model(cfg, checkpoint, device) -> (model, dataset_meta)``: default
    ``init_model``; it is called only once the scene and the output path are checked."""
    args = parse_args(argv)
    from mmskysense.apis import DetectorAdapter, detect_scene, init_model, open_detection_scene
    from mmskysense.apis.scene import trained_on_bgr
    from mmskysense.apis.scene.box_sink import check_geojson_path
    from mmskysense.apis.scene_detection import write_detection_preview
    from mmskysense.datasets.raster_io import RasterError

    prog = osp.basename(__file__)
    load_model = load_model or init_model
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        check_geojson_path(args.out)
        scene = open_detection_scene(args.scene, args.bands)
    except (RasterError, ValueError) as err:
        raise SystemExit(f'{prog}: error: {err}') from None
    with scene:
        # the config as loaded above (with --cfg-options merged), not read again
        model, meta = load_model(cfg, args.checkpoint, args.device)
        classes = class_names(cfg, meta)
        # the bands are read in RGB order; a model trained on OpenCV's BGR gets them reversed
        adapter = DetectorAdapter(model, args.device, reverse_channels=trained_on_bgr(cfg))
        try:
            dets = detect_scene(
                adapter,
                scene,
                args.out,
                classes,
                tile=args.tile or test_scale(cfg),
                overlap=args.overlap,
                batch_size=args.batch_size,
                score_thr=args.score_thr,
                iou_thr=args.iou_thr,
            )
        except RasterError as err:
            raise SystemExit(f'{prog}: error: {err} (no output written)') from None
    print(f'{len(dets)} detections ({dets.stats}) -> {args.out}')
    if not args.no_preview:
        png = args.preview or osp.splitext(args.out)[0] + '.png'
        write_detection_preview(args.scene, dets, png, bands=args.bands or (1, 2, 3))
        print(f'preview: {png}')


if __name__ == '__main__':
    main()
