# Class map of a scene of any size with a trained segmentation (or scene classification) model:
# overlapping tiles, each computed once, blended into a cloud-optimised GeoTIFF.
#
#   python tools/infer_large_scene.py CONFIG CHECKPOINT INPUT [INPUT ...] OUT.tif [--confidence]
#
# INPUT is what the model takes (its config says: scene_inputs, or the single input of a
# single-modal model):
#   scene.tif                         one raster (or one date of a series: repeat for more dates)
#   s2=S2_20210105.tif,S2_...tif      NAME=PATH[,PATH...]: the input NAME of the model (a series:
#   s2=s2_stack.tif                   one file per date, or one multi-date file)
#   hr=hr.tif s2=... s1=...           several modalities, each on its own grid (same CRS)
#   date1.tif date2.tif               the two dates of a change detector (LoadImagePair): defined
#                                     where both hold data (tools/infer_change_map.py also
#                                     refuses grids that do not pair by a whole-pixel offset)
# The output has the CRS and the pixel grid of the first input (restricted to where every input
# has pixels); it holds 255 where that input has no data. Every file is checked (exists, is a
# complete raster with the bands the model needs, shares the CRS, overlaps) before the model is
# loaded; no output file is left behind by a failure.
import argparse
import os.path as osp
import sys

from mmengine.config import Config, DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Large-scene inference: a class map GeoTIFF of a scene of any size',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="INPUT: PATH (the model's only input) or NAME=PATH[,PATH...] (repeatable)",
    )
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('paths', nargs='+', metavar='INPUT ... OUT', help='inputs, then the output')
    p.add_argument('--preview', help='PNG preview with a legend (default: OUT with .png)')
    p.add_argument('--no-preview', action='store_true')
    p.add_argument(
        '--preview-bands',
        type=lambda s: [int(b) for b in s.split(',')],
        default=None,
        help='bands of the first input shown in the preview (default 1,2,3, or 1)',
    )
    p.add_argument('--tile', type=int, default=512, help='tile size in output pixels')
    p.add_argument('--overlap', type=int, default=128, help='overlap of neighbouring tiles')
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument(
        '--block',
        type=int,
        default=None,
        help='unused (each tile is computed once; memory is bounded by --tile and --overlap)',
    )
    p.add_argument(
        '--bands',
        type=lambda s: [int(b) for b in s.split(',')],
        default=None,
        help='1-based bands to read (per date), in the order the model was trained with, '
        'e.g. 1,2,3; for a model with one input (default: from the config)',
    )
    p.add_argument('--confidence', action='store_true', help='add a confidence band (percent)')
    p.add_argument(
        '--valid-dates',
        choices=('any', 'all'),
        default=None,
        help='a series input defines the output where any (or every) date holds data '
        "(default: 'all' for a change detector, otherwise 'any')",
    )
    p.add_argument('--device', default='cpu')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    if len(args.paths) < 2:
        p.error('give at least one INPUT and the OUT path')
    args.inputs, args.out = args.paths[:-1], args.paths[-1]
    return args


def open_inputs(args, cfg):
    """The model's inputs from its config, and the scene's files, all checked."""
    from mmskysense.apis.scene import SceneInputs, parse_input_args, scene_spec_from_config

    spec = scene_spec_from_config(cfg)
    if args.bands is not None:
        if len(spec.inputs) > 1:
            raise ValueError('--bands is for a model with one input; state scene_inputs instead')
        spec.reference.bands, spec.reference.channels = list(args.bands), len(args.bands)
    if not args.out.lower().endswith(('.tif', '.tiff')):
        raise ValueError(f'{args.out}: the output must be a .tif GeoTIFF')
    files = parse_input_args(spec, args.inputs)
    if any(osp.abspath(p) == osp.abspath(args.out) for ps in files.values() for p in ps):
        raise ValueError(f'{args.out}: the output would overwrite an input')
    return SceneInputs.open(spec, files, valid_dates=args.valid_dates)


def main(argv=None):
    args = parse_args(argv)
    from mmskysense.apis import init_model, segment_scene
    from mmskysense.apis.scene.runner import warn_unused_block
    from mmskysense.datasets.raster_io import RasterError, open_raster
    from mmskysense.visualization import write_preview

    prog = osp.basename(__file__)
    warn_unused_block(args.block)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        scene = open_inputs(args, cfg)
    except (RasterError, ValueError) as err:
        raise SystemExit(f'{prog}: error: {err}') from None
    with scene:
        # the config as loaded above (with --cfg-options merged), not read again
        model, meta = init_model(cfg, args.checkpoint, args.device)
        classes = meta.get('classes') or model.cfg.get('class_names')
        if not classes:
            raise SystemExit(
                f'{prog}: error: {args.checkpoint} holds no dataset_meta.classes and the config '
                'has no class_names: cannot name the classes'
            )
        palette = meta.get('palette') or model.cfg.get('palette')
        try:
            result = segment_scene(
                model,
                scene,
                args.out,
                num_classes=len(classes),
                tile=args.tile,
                overlap=args.overlap,
                batch_size=args.batch_size,
                confidence=args.confidence,
                class_names=list(classes),
                palette=palette,
                progress=not args.quiet,
                device=args.device,
            )
        except RasterError as err:
            raise SystemExit(f'{prog}: error: {err} (no output written)') from None
        s = result.stats
        print(
            f'class map: {args.out} ({scene.height} x {scene.width} px; tiles: {s.computed} '
            f'computed once, {s.skipped} without data skipped, {s.total} in the grid)'
        )
        if not args.no_preview:
            png = args.preview or osp.splitext(args.out)[0] + '.png'
            bands = args.preview_bands
            if bands is None:
                with open_raster(scene.reference_path) as src:
                    bands = [1, 2, 3] if src.count >= 3 else [1]
            write_preview(
                args.out,
                png,
                classes,
                palette=palette,
                title=f'classes of {osp.basename(scene.reference_path)}',
                image_path=scene.reference_path,
                image_bands=bands,
            )
            print(f'preview: {png}')


if __name__ == '__main__':
    sys.exit(main())
