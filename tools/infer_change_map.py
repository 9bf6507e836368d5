# Change map of two GeoTIFFs of the same ground at two dates, with a trained change detector
# (overlapping tiles, each computed once, blended; the map covers the scenes' overlap and is a
# cloud-optimised GeoTIFF). Both files are checked (exist, complete rasters, bands, grids that
# pair by a whole-pixel offset) before the model is loaded; a failure names the file and leaves
# no output behind.
#
#   python tools/infer_change_map.py CONFIG CHECKPOINT DATE1.tif DATE2.tif OUT.tif [--preview P.png]
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from mmskysense.apis import (
    CHANGE_CLASSES,
    change_map_geotiff,
    init_model,
    open_change_pair,
    segmentor_predict_fn,
    write_change_preview,
)
from mmskysense.datasets.raster_io import RasterError


def parse_args(argv: list[str] | None = None):
    p = argparse.ArgumentParser(description='Change map of two co-registered GeoTIFF scenes')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('date1', help='GeoTIFF of the earlier date')
    p.add_argument('date2', help='GeoTIFF of the later date (same CRS and pixel size)')
    p.add_argument(
        'out',
        help='output change-map GeoTIFF over the overlap of the two scenes '
        '(0 unchanged, 1 changed, 255 where either date has no data)',
    )
    p.add_argument('--preview', help='PNG preview (default: OUT with .png)')
    p.add_argument('--no-preview', action='store_true')
    p.add_argument('--tile', type=int, default=512)
    p.add_argument('--overlap', type=int, default=128)
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument(
        '--block',
        type=int,
        default=None,
        help='unused (each tile is computed once; memory is bounded by --tile and --overlap)',
    )
    p.add_argument('--confidence', action='store_true', help='add a confidence band (percent)')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.add_argument(
        '--bands',
        type=lambda s: [int(b) for b in s.split(',')],
        default=None,
        help='1-based bands read from both scenes, in the order the model was '
        'trained with, e.g. 1,2,3',
    )
    p.add_argument(
        '--preview-bands',
        type=lambda s: [int(b) for b in s.split(',')],
        default=None,
        help='1-based bands of the scenes shown as RGB in the preview '
        '(default: the first three of --bands, or 1,2,3)',
    )
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    prog = osp.basename(__file__)
    if not args.out.lower().endswith(('.tif', '.tiff')):
        raise SystemExit(f'{prog}: error: {args.out}: the output must be a .tif GeoTIFF')
    if osp.abspath(args.out) in (osp.abspath(args.date1), osp.abspath(args.date2)):
        raise SystemExit(f'{prog}: error: {args.out}: the output would overwrite an input')
    try:  # every file checked before the model is loaded
        open_change_pair(args.date1, args.date2, args.bands).close()
    except (RasterError, ValueError) as err:
        raise SystemExit(f'{prog}: error: {err}') from None
    model, meta = init_model(args.config, args.checkpoint, args.device, args.cfg_options)
    classes = tuple(meta.get('classes') or CHANGE_CLASSES)
    try:
        change_map_geotiff(
            segmentor_predict_fn(model, args.device),
            args.date1,
            args.date2,
            args.out,
            tile=args.tile,
            overlap=args.overlap,
            batch_size=args.batch_size,
            block=args.block,
            bands=args.bands,
            num_classes=len(classes),
            progress=not args.quiet,
            class_names=classes,
            palette=meta.get('palette'),
            confidence=args.confidence,
        )
    except RasterError as err:
        raise SystemExit(f'{prog}: error: {err} (no output written)') from None
    print(f'change map: {args.out}')
    if not args.no_preview:
        png = args.preview or osp.splitext(args.out)[0] + '.png'
        write_change_preview(
            args.out,
            png,
            args.date1,
            args.date2,
            image_bands=args.preview_bands or (args.bands or [1, 2, 3])[:3],
        )
        print(f'preview: {png}')


if __name__ == '__main__':
    sys.exit(main())
