"""Export a trained model to ONNX (or torch.export's pt2) with its input contract.

usage:
  python tools/deployment/export.py CONFIG CHECKPOINT OUT.onnx [--format onnx] [options]
  python tools/deployment/export.py CONFIG CHECKPOINT OUT.pt2 --format pt2
  python tools/deployment/export.py CONFIG CHECKPOINT backbone.onnx --part backbone

Scene classifiers, segmentors (UperNet), change detectors (BIT) and the backbone alone. The graph
takes standardised tiles N x C x TILE x TILE (float32, a dynamic batch N) and gives class
probabilities (or the backbone's feature maps). OUT.json beside it holds the full input
contract (bands, GSD, standardisation, channel order, tile and overlap, task, classes and
palette); an ONNX file also carries it in its metadata, with the keys of the QGIS plugin
Deepness (a segmentor or change detector opens there). The scene engine runs an ONNX file with
only onnxruntime installed:

  python tools/infer_large_scene.py OUT.onnx scene.tif classes.tif

docs/export.md says more.
"""

import argparse
import os.path as osp
import sys


def parse_args(argv=None):
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument('config')
    p.add_argument('checkpoint', help="the checkpoint ('none': the config's random weights)")
    p.add_argument('out', help='the exported file (.onnx or .pt2); its contract goes to .json')
    p.add_argument('--format', choices=('onnx', 'pt2'), default=None, help='default: OUT suffix')
    p.add_argument('--part', choices=('model', 'backbone'), default='model')
    p.add_argument(
        '--tile',
        type=int,
        default=None,
        help="the graph's tile size (default the data preprocessor's pad size, else the "
        "contract's: a classifier's test resize, else 512)",
    )
    p.add_argument('--overlap', type=int, default=None, help='overlap stated in the contract')
    p.add_argument('--opset', type=int, default=None, help='ONNX opset (default 18)')
    p.add_argument(
        '--no-optimize', action='store_true', help="skip the ONNX exporter's graph optimisation"
    )
    p.add_argument(
        '--no-check',
        action='store_true',
        help='do not compare ONNX Runtime with PyTorch on random tiles after exporting',
    )
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    if args.format is None:
        suffix = osp.splitext(args.out)[1].lower()
        if suffix not in ('.onnx', '.pt2'):
            p.error(f'{args.out}: give --format, or an OUT ending in .onnx or .pt2')
        args.format = suffix[1:]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmskysense.apis import init_model
    from mmskysense.apis.export import DEFAULT_OPSET, compare_onnx, export_model

    checkpoint = None if args.checkpoint.lower() == 'none' else args.checkpoint
    try:
        model, _ = init_model(args.config, checkpoint, 'cpu', args.cfg_options)
        report = export_model(
            model,
            args.out,
            args.format,
            part=args.part,
            tile=args.tile,
            overlap=args.overlap,
            opset=args.opset or DEFAULT_OPSET,
            optimize=not args.no_optimize,
        )
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f'export.py: error: {err}') from None
    task, mib = report['contract'].task, report['bytes'] / 2**20
    print(f'exported {args.part} ({task}) -> {report["path"]} ({mib:.2f} MiB)')
    print(f'input {report["input"]["name"]}: {report["input"]["shape"]} float32, standardised')
    print(f'outputs: {", ".join(report["outputs"])}')
    print(f'scene bands of the graph channels (one date): {report["graph_bands"]}')
    print(f'input contract -> {report["sidecar"]}')
    if args.format == 'onnx' and report['graph_bands'] != list(
        range(1, len(report['graph_bands']) + 1)
    ):
        print(
            'note: QGIS Deepness feeds bands 1..C in order; give it a raster (a VRT) holding '
            f'bands {report["graph_bands"]} in that order'
        )
    if args.format == 'onnx' and not args.no_check:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            print('check skipped: onnxruntime is not installed')
            return 0
        diff, agree = compare_onnx(model, report)
        agreement = '' if agree is None else f', arg-max agreement {agree:.2%}'
        print(f'check: max |ONNX Runtime - PyTorch| = {diff:.3g}{agreement}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
