# Segment a GeoTIFF scene of any size with a trained segmentation model (tiles, overlap, blending).
#
#   python tools/infer_large_scene.py CONFIG CHECKPOINT SCENE.tif OUT.tif [--preview OUT.png]
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmskysense.apis import init_model, segment_geotiff, segmentor_predict_fn
from mmskysense.visualization import write_preview


def parse_args():
    p = argparse.ArgumentParser(description='Large-scene semantic segmentation of a GeoTIFF')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('scene', help='input GeoTIFF')
    p.add_argument('out', help='output class-map GeoTIFF (same CRS and transform as the input)')
    p.add_argument('--preview', help='PNG preview with a legend (default: OUT with .png)')
    p.add_argument('--no-preview', action='store_true')
    p.add_argument('--tile', type=int, default=512)
    p.add_argument('--overlap', type=int, default=128)
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--block', type=int, default=None, help='output block side (memory bound)')
    p.add_argument(
        '--bands',
        type=lambda s: [int(b) for b in s.split(',')],
        default=None,
        help='1-based bands to read, in the order the model was trained with, e.g. 1,2,3',
    )
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args()


def main():
    args = parse_args()
    model, meta = init_model(args.config, args.checkpoint, args.device, args.cfg_options)
    classes = meta.get('classes') or model.cfg.get('class_names')
    if not classes:
        raise SystemExit(
            f'{args.checkpoint} holds no dataset_meta.classes and the config has no '
            'class_names: cannot name the classes'
        )
    segment_geotiff(
        segmentor_predict_fn(model, args.device),
        args.scene,
        args.out,
        num_classes=len(classes),
        tile=args.tile,
        overlap=args.overlap,
        batch_size=args.batch_size,
        block=args.block,
        bands=args.bands,
    )
    print(f'class map: {args.out}')
    if not args.no_preview:
        png = args.preview or osp.splitext(args.out)[0] + '.png'
        write_preview(
            args.out,
            png,
            classes,
            palette=meta.get('palette'),
            title=f'classes of {osp.basename(args.scene)}',
            image_path=args.scene,
            image_bands=args.bands or [1, 2, 3],
        )
        print(f'preview: {png}')


if __name__ == '__main__':
    main()
