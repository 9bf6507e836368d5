"""Inference over a scene of any size with a trained model, for every task kind: a class map
(segmentation, scene classification), a change map (change detection) or detections.

usage:
  python tools/infer_large_scene.py CONFIG CHECKPOINT INPUT [INPUT ...] OUT [options]
  python tools/infer_large_scene.py MODEL.onnx INPUT [INPUT ...] OUT [options]

An exported model (MODEL.onnx, tools/deployment/export.py) runs through ONNX Runtime with neither
torch nor an OpenMMLab package imported: its input contract (bands, standardisation, tile,
classes, GSD) comes from the file's metadata (or MODEL.json beside it). A checkpoint written by
tools/train.py carries the same contract (meta.input_contract), which is used instead of the
config's pipelines unless --bands or --task asks for another input.

The config says the task (--task to name it): a detector (roi_head / bbox_head) writes GeoJSON
polygons in the scene's CRS (OUT.geojson); a change detector (LoadImagePair,
SiameseEncoderDecoder) writes the change map of the two dates' overlap; any other model writes
a class map (a cloud-optimised GeoTIFF, OUT.tif) of overlapping tiles, each computed once,
blended. A scene classifier's map is a grid of its training windows (tiles of its test resize,
e.g. 224 px, no overlap): one class per window; a multi-label classifier (BigEarthNet's)
writes one probability band per class (sigmoid) and one label band per class (--threshold).
--vector adds the map's polygons, --embeddings and --embeddings-raster the backbone's pooled
features per tile. A config's scene_gsd (the pixel size its model was trained at) is checked
against the scene's (--gsd-tolerance, --strict-gsd), or the scene read at it
(--resample-to-model-gsd).
Bands by name: the model's bands are named (Sentinel-2: B02-B08, B8A, B11, B12); each file's
bands are matched to them by its band descriptions, or by --band-preset (s2-l1c, s2-l2a, ...),
or --bands gives plain 1-based positions. A band the model takes that a file lacks, or a file
whose bands have no names and whose count is not the model's, is an error naming the bands;
the mapping used is printed, and a series' dates (put in date order whatever the order given).
INPUT is what the model takes (the config's scene_inputs, or the single input of a
single-modal model):
  scene.tif                         one raster (or one date of a series: repeat for more dates)
  s2=S2_20210105.tif,S2_...tif      NAME=PATH[,PATH...]: the input NAME of the model (a series:
  s2=s2_stack.tif                   one file per date, or one multi-date file)
  hr=hr.tif s2=... s1=...           several modalities, each on its own grid (same CRS); a
                                    modality other than the first (the reference) may be left
                                    out: it is masked, as a sample lacking it in training
  date1.tif date2.tif               the two dates of a change detector: never resampled, they
                                    must share CRS, pixel size and pixel grid (a whole-pixel
                                    offset is fine); the map covers their overlap and is
                                    defined where both hold data
  https://host/scene.tif            a path may be an http(s):// or /vsicurl/ URL of a COG, read
                                    by range requests, a window at a time (--http-* flags)
  s2=item.json s2=https://.../b.json  STAC items (files or URLs, or an ItemCollection): the
                                    assets holding the bands named by --stac-bands become one
                                    multi-band input per item; several items are a series in
                                    the order of their datetime
The output has the CRS and pixel grid of the first input (restricted to where every input has
pixels); it holds 255 where that input has no data. Every input (the files, their bands and
grids, the output path) is checked before the model is loaded; no output is left behind by a
failure. Class names: the checkpoint's dataset_meta, else the config's class_names or its test
dataset's classes. tools/infer_change_map.py and tools/detect_large_scene.py are aliases.

examples:
  python tools/infer_large_scene.py seg.py seg.pth scene.tif classes.tif --confidence
  python tools/infer_large_scene.py cd.py cd.pth date1.tif date2.tif change.tif
  python tools/infer_large_scene.py det.py det.pth scene.tif boxes.geojson --score-thr 0.3
"""

import argparse
import copy
import os.path as osp
import sys
import tempfile

# nothing heavy at module level: an exported model runs without torch and the OpenMMLab set
TASKS = ('segmentation', 'classification', 'change', 'detection')


class _DictAction(argparse.Action):
    """mmengine's ``DictAction``, imported only when --cfg-options is given."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction

        DictAction(self.option_strings, self.dest)(parser, namespace, values, option_string)


def _bands(text):
    return [int(b) for b in text.split(',')]


def parse_args(argv=None, prog=None):
    p = argparse.ArgumentParser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument('config', help='the config, or an exported MODEL.onnx')
    p.add_argument('checkpoint', help='the checkpoint (after MODEL.onnx: the first input)')
    p.add_argument('paths', nargs='+', metavar='INPUT ... OUT', help='inputs, then the output')
    p.add_argument('--task', choices=TASKS, default=None, help='default: from the config')
    p.add_argument('--preview', help='PNG preview with a legend (default: OUT with .png)')
    p.add_argument('--no-preview', action='store_true')
    p.add_argument(
        '--preview-bands',
        type=_bands,
        default=None,
        help='bands of the first input shown in the preview (default: 1,2,3, or 1)',
    )
    p.add_argument(
        '--tile',
        type=int,
        default=None,
        help="tile size in output pixels (default 512; detection: the config's test resize, "
        'else 1024)',
    )
    p.add_argument(
        '--overlap',
        type=int,
        default=None,
        help='overlap of neighbouring tiles (default 128; detection: 200, more than the '
        'largest object)',
    )
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument(
        '--block',
        type=int,
        default=None,
        help='unused (each tile is computed once; memory is bounded by --tile and --overlap)',
    )
    p.add_argument(
        '--bands',
        type=_bands,
        default=None,
        help='1-based bands to read (per date) for a model with one input, e.g. 1,2,3; in RGB '
        "order for a 3-band model (reversed for one trained on OpenCV's BGR, as the default is)",
    )
    p.add_argument(
        '--band-preset',
        nargs='+',
        default=None,
        metavar='[NAME=]PRESET',
        help='the band layout of the input files, matched to the bands the model takes by '
        'name: s2-l1c (13 bands, SAFE order), s2-l2a (12, no B10), s2-10, landsat8-oli, '
        'planet-psscene (3, 4 or 8 bands), naip (RGBN); NAME=PRESET for one input of a '
        "multi-modal model. Without it, the files' band descriptions name their bands",
    )
    p.add_argument(
        '--stac-bands',
        action='append',
        default=[],
        metavar='[NAME=]BAND,...',
        help='STAC inputs: the bands the model takes, in its order, by their STAC name or '
        'common name (e.g. B04,B03,B02 or red,green,blue); NAME= for one input of several',
    )
    p.add_argument('--confidence', action='store_true', help='add a confidence band (percent)')
    p.add_argument(
        '--vector',
        metavar='PATH',
        help='also the polygons of the class or change map (.gpkg or .geojson): one per '
        'connected region of one class, with class, area, pixels (and confidence)',
    )
    p.add_argument(
        '--min-area', type=float, default=0.0, help='--vector: drop regions smaller (m^2)'
    )
    p.add_argument(
        '--simplify',
        type=float,
        default=0.0,
        help='--vector: simplification tolerance (CRS units; 0: exact pixel outlines)',
    )
    p.add_argument(
        '--threshold',
        type=float,
        default=0.5,
        help='multi-label classifier: a class is in the label set of a window where its '
        'probability (sigmoid) is at least this (default %(default)s)',
    )
    p.add_argument(
        '--embeddings',
        metavar='PATH',
        help="also the backbone's pooled features of each tile (.gpkg or .geojson): one tile "
        'footprint per feature vector (tiles of --tile px, no overlap)',
    )
    p.add_argument(
        '--embeddings-raster',
        metavar='PATH.tif',
        help='also those features as a low-resolution COG: one pixel per tile, one band per '
        'channel',
    )
    p.add_argument(
        '--gsd-tolerance',
        type=float,
        default=1.5,
        help="warn when the scene's pixel size differs from the GSD the model was trained at "
        "(the config's scene_gsd) by more than this factor (default %(default)s)",
    )
    p.add_argument(
        '--strict-gsd', action='store_true', help='that difference is an error, not a warning'
    )
    p.add_argument(
        '--resample-to-model-gsd',
        action='store_true',
        help="read the scene at the model's GSD (scene_gsd); the outputs are on that grid",
    )
    p.add_argument(
        '--valid-dates',
        choices=('any', 'all'),
        default=None,
        help='a series input defines the output where any (or every) date holds data '
        "(default: 'all' for a change detector, otherwise 'any')",
    )
    p.add_argument('--score-thr', type=float, default=0.05, help='detection: lowest score kept')
    p.add_argument(
        '--iou-thr',
        type=float,
        default=None,
        help='detection: NMS threshold of the merge (default 0.5 horizontal, 0.1 rotated)',
    )
    p.add_argument(
        '--precision',
        choices=('fp32', 'bf16'),
        default='fp32',
        help='bf16: the model under bfloat16 autocast (segmentation and change maps; faster on '
        'CPUs with bf16 instructions; benchmarks/bench_scene_inference.py states its agreement)',
    )
    p.add_argument(
        '--channels-last',
        action='store_true',
        help='NHWC convolutions (segmentation and change maps)',
    )
    p.add_argument('--device', default='cpu')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.add_argument('--cfg-options', nargs='+', action=_DictAction)
    from mmskysense.datasets.raster import RemoteOptions

    RemoteOptions.add_arguments(p)
    args = p.parse_args(argv)
    args.onnx = args.config if args.config.lower().endswith('.onnx') else None
    if args.onnx:  # MODEL.onnx INPUT ... OUT: no checkpoint
        args.paths = [args.checkpoint, *args.paths]
        args.config = args.checkpoint = None
    if len(args.paths) < 2:
        p.error('give at least one INPUT and the OUT path')
    args.inputs, args.out = args.paths[:-1], args.paths[-1]
    return args


def check_files(args, task):
    """The rasters named on the command line exist and are complete (before the config is
    read: their errors name them whatever the config)."""
    from mmskysense.apis.scene import split_input_arg
    from mmskysense.apis.scene.stac import is_stac
    from mmskysense.datasets.raster import open_raster

    paths = [p for arg in args.inputs for p in split_input_arg(arg)[1]]
    for n, path in enumerate(paths, 1):
        if is_stac(path):
            continue  # its assets are checked once the bands to read are known

        if task == 'change':
            expected = f'date {n} of the change pair, a GeoTIFF'
        else:
            expected = 'an input of the scene, a GeoTIFF'
        open_raster(path, expected=expected, check_complete=True).close()


def check_output(args, task, files, multi_label=False):
    """Every output path (its format, none the same as another or as an input), before the
    scene is read or the model loaded."""
    from mmskysense.apis.scene import vector_driver

    if task == 'detection':
        from mmskysense.apis.scene.box_sink import check_geojson_path

        check_geojson_path(args.out)
    elif not args.out.lower().endswith(('.tif', '.tiff')):
        raise ValueError(f'{args.out}: the output of a {task} model must be a .tif GeoTIFF')
    outputs = [args.out]
    if args.vector:
        if task == 'detection' or multi_label:
            raise ValueError(f'{args.vector}: --vector polygonises a class or change map')
        vector_driver(args.vector)
        if args.min_area < 0 or args.simplify < 0:
            raise ValueError('--min-area and --simplify must be >= 0')
        outputs.append(args.vector)
    if args.embeddings:
        vector_driver(args.embeddings)
        outputs.append(args.embeddings)
    if args.embeddings_raster:
        if not args.embeddings_raster.lower().endswith(('.tif', '.tiff')):
            raise ValueError(f'{args.embeddings_raster}: --embeddings-raster must be a .tif')
        outputs.append(args.embeddings_raster)
    inputs = {osp.abspath(p) for ps in files.values() for p in ps}
    seen = set()
    for out in outputs:
        if osp.abspath(out) in inputs:
            raise ValueError(f'{out}: the output would overwrite an input')
        if osp.abspath(out) in seen:
            raise ValueError(f'{out}: given for two outputs')
        seen.add(osp.abspath(out))


def stac_band_names(args, spec):
    """The bands to pick from STAC items, per input name: ``--stac-bands`` (``NAME=B1,B2``
    or, for a model with one input, ``B1,B2``), else the bands the model names
    (``ModalityInput.band_names``)."""
    names = {m.name: list(m.band_names) for m in spec.inputs if m.band_names}
    for arg in args.stac_bands:
        name, sep, value = arg.partition('=')
        if not sep:
            if len(spec.inputs) > 1:
                raise ValueError(f'--stac-bands {arg}: name the input, one of {spec.names}')
            name, value = spec.names[0], arg
        if name not in spec.names:
            raise ValueError(f'--stac-bands {arg}: the model takes no input {name!r}')
        names[name] = [b.strip() for b in value.split(',') if b.strip()]
    return names


def open_stac_inputs(args, spec, files, tmp_dir):
    """The inputs given as STAC items, as one VRT per item in ``tmp_dir`` (in date order)
    holding the bands the model takes; those inputs then read every band of their VRTs."""
    from mmskysense.apis.scene.stac import expand_stac_inputs

    files, stac = expand_stac_inputs(files, stac_band_names(args, spec), tmp_dir)
    for name, found in stac.items():
        m = spec[name]
        n = len(found.bands[0])
        if m.channels is not None and m.channels != n:
            raise ValueError(
                f'--stac-bands names {n} bands for the input {name!r}; the model takes {m.channels}'
            )
        m.norm_stats()  # the statistics of the config's bands, kept before they are renumbered
        m.bands, m.channels = list(range(1, n + 1)), n
        for where, day, bands in zip(found.items, found.dates, found.bands):
            listing = ', '.join(b.label() for b in bands)
            print(f'{name}: STAC {where} of {day.isoformat()}: {listing}')
    return files


def model_contract(args, cfg, task):
    """The model's input contract: the checkpoint's (written in training) when it holds one
    and neither --bands nor --task asks for another input, else the config's."""
    from mmskysense.apis.model_loading import checkpoint_contract
    from mmskysense.apis.scene.contract import contract_from_config

    if args.bands is None and task is None:
        stored = checkpoint_contract(args.checkpoint)
        if stored is not None:
            return stored
    return contract_from_config(cfg, task=task, bands=args.bands)


def open_inputs(args, contract, tmp_dir):
    """The model's inputs (``contract.spec``), and the scene's files, all checked; the
    scene's pixel size against the model's GSD (read at that GSD with --resample-to-model-gsd:
    the reference input's files through VRTs written in ``tmp_dir``)."""
    from mmskysense.apis.scene import SceneInputs, parse_band_presets, parse_input_args
    from mmskysense.apis.scene.gsd import check_gsd, pixel_size, resampled_vrt

    task = contract.task
    spec = copy.deepcopy(contract.spec)
    if task == 'detection' and args.bands is None and spec.reference.bands is None:
        spec.reference.bands, spec.reference.channels = [1, 2, 3], 3
    files = parse_input_args(spec, args.inputs)
    files = open_stac_inputs(args, spec, files, tmp_dir)
    check_output(args, task, files, contract.multi_label)
    presets = parse_band_presets(spec, args.band_preset)
    scene = SceneInputs.open(spec, files, valid_dates=args.valid_dates, band_presets=presets)
    for line in scene.describe():
        print(line)
    for name in scene.missing:
        print(f'{name}: no file given; masked in every tile (as a sample lacking it in training)')
    gsd = contract.gsd
    if scene.pixel_space:
        from mmskysense.apis.scene.pixel_space import PIXEL_NOTE

        print(f'note: {scene.reference_path}: {PIXEL_NOTE}')
        if args.resample_to_model_gsd:
            scene.close()
            raise ValueError(
                f'{scene.reference_path}: --resample-to-model-gsd needs the pixel size, which a '
                'file without georeference does not give; resample it yourself to the '
                "model's GSD"
            )
        if gsd is not None:
            print(
                f'note: the pixel size of {scene.reference_path} is unknown (no georeference); '
                f'the model was trained at {gsd:g} m: give it imagery of about that resolution'
            )
        return scene
    size = pixel_size(scene.transform)
    if args.resample_to_model_gsd:
        if gsd is None:
            scene.close()
            raise ValueError(
                f'{args.config or args.onnx}: --resample-to-model-gsd needs the GSD the model '
                'was trained at (scene_gsd in the config, or --cfg-options scene_gsd=...)'
            )
        if abs(size / gsd - 1) > 1e-6:
            anchor = (scene.transform.c, scene.transform.f)
            scene.close()
            ref = spec.reference.name
            files[ref] = [resampled_vrt(p, gsd, tmp_dir, anchor) for p in files[ref]]
            scene = SceneInputs.open(
                spec, files, valid_dates=args.valid_dates, band_presets=presets
            )
            print(f"{scene.reference_path}: read at the model's GSD {gsd:g} m (was {size:g} m)")
        return scene
    try:
        check_gsd(scene.reference_path, size, gsd, args.gsd_tolerance, args.strict_gsd)
    except ValueError:
        scene.close()
        raise
    return scene


def _detect(args, contract, scene, model, classes):
    from mmskysense.apis.scene_detection import detect_scene, write_detection_preview

    dets = detect_scene(
        model,
        scene,
        args.out,
        classes,
        tile=args.tile or contract.tile,
        overlap=contract.overlap if args.overlap is None else args.overlap,
        batch_size=args.batch_size,
        score_thr=args.score_thr,
        iou_thr=args.iou_thr,
        progress=not args.quiet,
        device=args.device,
    )
    print(f'{len(dets)} detections ({dets.stats}) -> {args.out}')
    if not args.no_preview:
        png = args.preview or osp.splitext(args.out)[0] + '.png'
        bands = args.preview_bands or args.bands or (1, 2, 3)
        write_detection_preview(scene.reference_path, dets, png, bands=bands)
        print(f'preview: {png}')


def _multi_label_map(args, contract, scene, model, classes):
    from mmskysense.apis.scene import run_tiles
    from mmskysense.apis.scene.multilabel_sink import MultiLabelMapSink

    tile, overlap = map_grid(args, contract)
    grid = scene.grid(tile, overlap)
    sink = MultiLabelMapSink(
        grid, scene.crs, scene.transform, args.out, classes, args.threshold, scene.reference_path
    )
    _, s = run_tiles(scene, grid, model, sink, args.batch_size, not args.quiet)
    print(
        f'multi-label map: {args.out} ({len(classes)} probability bands, then {len(classes)} '
        f'label bands at >= {args.threshold}; windows of {tile} px: {s.computed} computed, '
        f'{s.skipped} without data skipped)'
    )


def map_grid(args, contract):
    """The class map's tile and overlap: --tile and --overlap, else the contract's
    (``scene_tiling``: a scene classifier's window is its training input size without overlap,
    so that its map is a grid of those windows; a segmentor's 512 px and 128 of overlap)."""
    return (
        args.tile or contract.tile,
        contract.overlap if args.overlap is None else args.overlap,
    )


def _map(args, contract, scene, model, classes, palette):
    from mmskysense.apis.change_map import write_change_preview
    from mmskysense.apis.scene import polygonize_class_map, segment_scene
    from mmskysense.datasets.raster import open_raster
    from mmskysense.visualization import write_preview

    task = contract.task
    tile, overlap = map_grid(args, contract)
    result = segment_scene(
        model,
        scene,
        args.out,
        num_classes=len(classes),
        tile=tile,
        overlap=overlap,
        batch_size=args.batch_size,
        confidence=args.confidence,
        class_names=classes,
        palette=palette,
        progress=not args.quiet,
        device=args.device,
    )
    s = result.stats
    what = 'change map' if task == 'change' else 'class map'
    print(
        f'{what}: {args.out} ({scene.height} x {scene.width} px; tiles: {s.computed} '
        f'computed once, {s.skipped} without data skipped, {s.total} in the grid)'
    )
    if args.vector:
        polygons = polygonize_class_map(
            args.out,
            args.vector,
            min_area=args.min_area,
            simplify=args.simplify,
            class_names=classes,
            progress=not args.quiet,
        )
        print(
            f'{polygons.polygons} polygons ({polygons.dropped} below --min-area) -> {args.vector}'
        )
    if args.no_preview:
        return
    png = args.preview or osp.splitext(args.out)[0] + '.png'
    bands = args.preview_bands
    if task == 'change':
        date1, date2 = (f.path for f in scene.frames[scene.spec.reference.name])
        bands = bands or (args.bands or [1, 2, 3])[:3]
        write_change_preview(args.out, png, date1, date2, image_bands=bands)
    else:
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


def _embed(args, contract, scene, model):
    from mmskysense.apis.scene import embed_scene

    tile = map_grid(args, contract)[0]
    result = embed_scene(
        model,
        scene,
        args.embeddings,
        args.embeddings_raster,
        tile=tile,
        overlap=0,
        batch_size=args.batch_size,
        progress=not args.quiet,
        device=args.device,
    )
    outs = ', '.join(p for p in (result.path, result.raster_path) if p)
    print(f'embeddings of {result.tiles} tiles ({result.channels} channels) -> {outs}')


def main(argv=None, load_model=None, task=None, prog=None):
    """Run the tool. ``load_model(cfg, checkpoint, device) -> (model, dataset_meta)``
    (default ``init_model``) is called once every input is checked; ``task`` (an alias's)
    overrides ``--task``."""
    args = parse_args(argv, prog)
    from mmskysense.apis.scene.runner import warn_unused_block
    from mmskysense.datasets.raster import RasterError, RemoteOptions

    prog = prog or osp.basename(__file__)
    warn_unused_block(args.block)
    task = task or args.task
    try:
        remote = RemoteOptions.from_args(args)
    except ValueError as err:
        raise SystemExit(f'{prog}: error: {err}') from None
    if args.onnx:
        if args.precision != 'fp32' or args.channels_last:
            raise SystemExit(
                f'{prog}: error: --precision and --channels-last are options of a PyTorch '
                'model; an ONNX model runs as it was exported'
            )
        with remote.env():
            return _main_onnx(args, task, prog)
    from mmengine.config import Config

    from mmskysense.apis import init_model

    load_model = load_model or init_model
    with remote.env(), tempfile.TemporaryDirectory(prefix='infer_large_scene_') as tmp_dir:
        try:
            check_files(args, task)
            cfg = Config.fromfile(args.config)
            if args.cfg_options:
                cfg.merge_from_dict(args.cfg_options)
            contract = model_contract(args, cfg, task)
            scene = open_inputs(args, contract, tmp_dir)
            if (args.precision != 'fp32' or args.channels_last) and (
                contract.task not in ('segmentation', 'change') or len(scene.spec.inputs) > 1
            ):
                scene.close()
                raise ValueError(
                    '--precision bf16 and --channels-last apply to single-input segmentation '
                    f'and change maps, not to this {contract.task} model with inputs '
                    f'{scene.spec.names}'
                )
        except (RasterError, ValueError, FileNotFoundError) as err:
            raise SystemExit(f'{prog}: error: {err}') from None
        with scene:
            _run(args, cfg, contract, scene, load_model, prog)


def _main_onnx(args, task, prog):
    """An exported model through ONNX Runtime: no torch, no OpenMMLab package."""
    from mmskysense.apis.scene.onnx_adapter import OnnxRuntimeAdapter
    from mmskysense.datasets.raster import RasterError

    unsupported = [
        flag
        for flag, given in (
            ('--embeddings', args.embeddings),
            ('--embeddings-raster', args.embeddings_raster),
            ('--cfg-options', args.cfg_options),
        )
        if given
    ]
    if unsupported or args.device != 'cpu':
        what = ', '.join(unsupported) or f'--device {args.device}'
        raise SystemExit(f'{prog}: error: {what}: not available for an exported model')
    with tempfile.TemporaryDirectory(prefix='infer_large_scene_') as tmp_dir:
        try:
            check_files(args, task)
            adapter = OnnxRuntimeAdapter(args.onnx)
            contract = copy.deepcopy(adapter.contract)
            if task is not None and task != contract.task:
                raise ValueError(f'{args.onnx}: an exported {contract.task} model, not {task}')
            if args.tile is not None and args.tile != contract.tile:
                raise ValueError(f'{args.onnx}: the graph takes tiles of {contract.tile} px')
            if args.bands is not None:  # the scene bands of the graph's channels, in order
                bands = list(args.bands)
                if contract.bgr_to_rgb and len(bands) == 3:
                    bands = bands[::-1]  # the adapter swaps them back, as the preprocessor
                ref = contract.spec.reference
                ref.bands, ref.channels = bands, len(bands)
            if not contract.classes:
                raise ValueError(f'{args.onnx}: its input contract names no classes')
            adapter.contract = contract
            scene = open_inputs(args, contract, tmp_dir)
        except (RasterError, ValueError, FileNotFoundError, ImportError) as err:
            raise SystemExit(f'{prog}: error: {err}') from None
        with scene:
            try:
                if contract.multi_label:
                    _multi_label_map(args, contract, scene, adapter, contract.classes)
                else:
                    _map(args, contract, scene, adapter, contract.classes, contract.palette)
            except (RasterError, ValueError) as err:
                raise SystemExit(f'{prog}: error: {err} (no output written)') from None


def _run(args, cfg, contract, scene, load_model, prog):
    """Load the model and write every product asked for."""
    from mmskysense.apis.scene import build_adapter, classes_of
    from mmskysense.apis.scene.contract import CHANGE_CLASSES, CHANGE_PALETTE
    from mmskysense.datasets.raster import RasterError

    task = contract.task

    # the config as loaded above (with --cfg-options merged), not read again
    model, meta = load_model(cfg, args.checkpoint, args.device)
    try:
        if task == 'change':
            classes, palette = classes_of(cfg, meta, CHANGE_CLASSES, CHANGE_PALETTE)
        else:
            classes, palette = classes_of(cfg, meta)
    except ValueError as err:
        raise SystemExit(f'{prog}: error: {args.checkpoint}: {err}') from None
    try:
        adapter = build_adapter(model, scene.spec, args.device, args.precision, args.channels_last)
    except ValueError as err:
        raise SystemExit(f'{prog}: error: --precision / --channels-last: {err}') from None
    try:
        if task == 'detection':
            _detect(args, contract, scene, adapter, classes)
        elif contract.multi_label:
            _multi_label_map(args, contract, scene, adapter, classes)
        else:
            _map(args, contract, scene, adapter, classes, palette)
        if args.embeddings or args.embeddings_raster:
            _embed(args, contract, scene, model)
        for name, tiles in sorted(getattr(adapter, 'masked', {}).items()):
            print(f'{name}: masked in {tiles} tiles (no file, or no data in the tile)')
    except RasterError as err:
        raise SystemExit(f'{prog}: error: {err} (no output written)') from None


if __name__ == '__main__':
    sys.exit(main())
