"""The main job end to end (make demo): from generated multi-modal GeoTIFFs to a georeferenced map.

  .venv/bin/python tools/demo.py [--out demo_outputs] [--data DIR] [--quick]
      [--objective ita|whole] [--world colour|texture]

1. generate the demo dataset: geo-aligned HR / Sentinel-2 / Sentinel-1 GeoTIFF samples with
   OSM-like labels (pretraining, k-NN scenes, a labelled fine-tuning set, one large scene)
2. pretrain the tiny SkySense V2 (tools/train.py), the teacher's k-NN on the held-out scenes
   measured while it runs (KNNEvalHook), and plot the loss terms, the k-NN curve and the
   collapse monitors (pretrain_curves.png). ``--objective whole`` (the default): the paper's
   whole objective (MGCL, QSACL, GCPL and ITA) over HR, Sentinel-2 and Sentinel-1 and, beside
   it, the same recipe with the self-supervised terms alone (ITA weighted 0, no label read), so
   that the k-NN of the self-supervised part shows on its own; ``--objective ita``: the tiny
   recipe's ITA on HR views. ``--world texture`` (the default): classes set by HR structure,
   colours random per region, where the self-supervised terms learn; ``--world colour``: classes
   set by colour, which the self-supervised terms' colour augmentations teach them to ignore
   (``--objective ita --world colour`` is the quick demo: about 5 minutes)
3. extract the teacher backbones; k-NN scene classification with random and pretrained weights
4. fine-tune UperNet on the labelled set from the pretrained backbone and test it (mIoU)
5. segment the large scene tile by tile into a GeoTIFF class map and a PNG preview
and prints a table of the results and the paths of every output.
"""

import argparse
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The pretraining recipe of each --objective (their headers say what differs from the paper's
# recipe; configs/skysense_v2/README.md gives their figures). The demo's classes are set by
# colour, which the self-supervised views' colour jitter and grayscale teach the features to
# ignore: on these scenes the whole objective ends below random weights (README, "The demo").
PRETRAIN_CFGS = dict(
    # the tiny recipe whose teacher's k-NN rises above random initialisation (issue 11)
    ita='configs/skysense_v2/skysense-v2_tiny_1xb8-cpu-800it-hr-ita_geo-demo.py',
    # the paper's four terms over every modality (issue 24, point 4)
    whole='configs/skysense_v2/skysense-v2_tiny_1xb8-cpu-800it-full_geo-texture.py',
)
# The whole recipe with ITA weighted 0: what the self-supervised terms learn with no label.
SSL_ONLY = ('model.loss_weights.ita=0',)
# The generated worlds (mmskysense.datasets.geo.synthetic): ``colour``, classes set by colour
# (the demo's default; the self-supervised terms' colour augmentations work against it);
# ``texture``, classes set by HR structure, colours random per region, where the
# self-supervised terms learn from 256 samples (configs/skysense_v2/README.md) and collapse on 32.
WORLDS = dict(
    colour=dict(
        pretrain=dict(num_samples=16, seed=0),
        knn=dict(num_samples=32, seed=1),
        finetune_cfg='configs/demo/upernet_skysense-v2-tiny_1xb4-300it_geo-demo-128x128.py',
        classes=None,  # gen_text_embeddings' default: the colour world's classes
    ),
    texture=dict(
        pretrain=dict(num_samples=256, seed=7),
        knn=dict(num_samples=64, seed=1),  # the k-NN set of the README's texture figures
        finetune_cfg='configs/demo/upernet_skysense-v2-tiny_1xb4-300it_geo-texture-128x128.py',
        classes=('crop_rows', 'buildings', 'tree_crowns', 'field_mosaic', 'smooth_surface'),
    ),
)


def step(title: str) -> float:
    print(f'\n=== {title}', flush=True)
    return time.time()


def launch(cmd, log=subprocess.PIPE) -> subprocess.Popen:
    """Start a tool from the repository root with the project on its path; its output to
    ``log`` (an open file), or a pipe."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    return subprocess.Popen(
        [str(c) for c in cmd],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )


def failed(proc: subprocess.Popen, tail: str, log_path: str | None) -> SystemExit:
    sys.stdout.write(tail)
    return SystemExit(
        f'demo step failed ({proc.returncode}): {" ".join(proc.args)}'
        + (f'\nfull log: {log_path}' if log_path else '')
    )


def run(cmd, log_path=None, show=('Iter(', 'mIoU', 'k-NN', 'Error')):
    """Run a tool; stream the lines that show progress, keep the whole output in ``log_path``."""
    log = open(log_path, 'w') if log_path else None
    proc = launch(cmd)
    tail = []
    for line in proc.stdout:
        if log:
            log.write(line)
        tail = (tail + [line])[-40:]
        if any(s in line for s in show):
            # the head of mmengine's iteration lines holds the step, lr and total loss
            start = line.find('Iter(')
            print('   ' + line[max(start, 0) :].rstrip()[:150], flush=True)
    proc.wait()
    if log:
        log.close()
    if proc.returncode != 0:
        raise failed(proc, ''.join(tail), log_path)


def latest(pattern: str) -> str:
    paths = glob.glob(pattern)
    if not paths:
        raise SystemExit(f'expected an output matching {pattern}, found none')
    return max(paths, key=lambda p: int(''.join(c for c in osp.basename(p) if c.isdigit()) or 0))


def loss_curve(work_dir: str):
    """First and last values of the total loss in mmengine's scalar log (10-point means)."""
    path = latest(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    losses = []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if 'loss' in rec:
                losses.append(rec['loss'])
    if len(losses) < 2:
        raise SystemExit(f'{path} logged {len(losses)} loss values; expected a curve')
    n = max(1, min(10, len(losses) // 4))
    return sum(losses[:n]) / n, sum(losses[-n:]) / n, len(losses)


def tiled_vs_untiled(cfg, ckpt: str, scene_path: str, out: str, size: int = 512) -> float:
    """Agreement of tiled (128 px tiles, 32 px overlap) and one-pass inference on a crop;
    ``cfg`` is the fine-tuning config as loaded."""
    import rasterio
    from rasterio.windows import Window

    from mmskysense.apis import init_model, segment_geotiff

    model, meta = init_model(cfg, ckpt)
    crop = osp.join(out, 'scene_crop.tif')
    with rasterio.open(scene_path) as src:
        size = min(size, src.height, src.width)
        win = Window(0, 0, size, size)
        profile = dict(src.profile, width=size, height=size, transform=src.window_transform(win))
        data = src.read(window=win)
    with rasterio.open(crop, 'w', **profile) as dst:
        dst.write(data)
    maps = []
    for tile, overlap in ((size, 0), (128, 32)):
        path = osp.join(out, f'scene_crop_tile{tile}.tif')
        segment_geotiff(
            model,
            crop,
            path,
            len(meta['classes']),
            tile=tile,
            overlap=overlap,
            progress=False,
        )
        with rasterio.open(path) as f:
            maps.append(f.read(1))
    return float((maps[0] == maps[1]).mean() * 100)


# ----------------------------------------------------------------------------------- steps
# Each step runs one tool and returns what it produced, read from the files the tool writes
# (JSON and rasters), never from its log text.


def warmup(iters: int, longest: int = 20) -> list:
    """Overrides that keep the linear warm-up (``param_scheduler[0]``) within a fifth of a short
    run; the decay (``param_scheduler[1]``) then starts where it ends."""
    n = max(1, min(longest, iters // 5))
    return [f'param_scheduler.0.end={n}', f'param_scheduler.1.begin={n}']


def step_data(args, results: dict) -> dict:
    """Geo-aligned HR / Sentinel-2 / Sentinel-1 GeoTIFF samples with OSM-like labels: the
    pretraining set, held-out k-NN scenes, a labelled fine-tuning set and one large scene."""
    import numpy as np

    from mmskysense.datasets.geo.synthetic import generate_geo_dataset, generate_sample

    data, world = args.data, WORLDS[args.world]
    generate_geo_dataset(data, **world['pretrain'], world=args.world)
    generate_geo_dataset(osp.join(data, 'knn'), **world['knn'], world=args.world, write_index=False)
    for split, n, seed in (('train', 16, 100), ('val', 6, 200)):
        generate_geo_dataset(
            osp.join(data, 'finetune', split),
            num_samples=n,
            seed=seed,
            world=args.world,
            write_index=False,
        )
    scene = generate_sample(
        osp.join(data, 'scene'),
        np.random.default_rng(300),
        hr_size=args.scene_size,
        num_s2_dates=2,
        num_s1_dates=1,
        world=args.world,
    )
    text_emb = osp.join(data, 'osm_text_embeddings_random.pth')
    classes = ['--classes', *world['classes']] if world['classes'] else []
    run(
        [sys.executable, 'tools/misc/gen_text_embeddings.py', text_emb, '--backend', 'random']
        + classes
    )
    print(f'   pretraining samples: {data}/samples (index {data}/index.json)')
    print(f'   large scene: {scene["folder"]}/hr.tif ({args.scene_size} x {args.scene_size})')
    return dict(
        text_embeddings=text_emb,
        scene=osp.join(scene['folder'], 'hr.tif'),
        scene_labels=osp.join(scene['folder'], 'osm.tif'),
    )


def pretrain_cmd(args, results: dict, name: str, extra: tuple = ()) -> list:
    """tools/train.py with the tiny recipe (``extra``: more ``--cfg-options``) into
    ``args.out/name``."""
    data = results['data']
    work_dir = osp.join(args.out, name)
    return [
        sys.executable,
        'tools/train.py',
        args.pretrain_cfg_path,
        '--work-dir',
        work_dir,
        '--cfg-options',
        f'train_dataloader.dataset.data_root={args.data}/',
        f'model.ita_head.loss.text_embeddings={data["text_embeddings"]}',
        f'train_cfg.max_iters={args.pretrain_iters}',  # the decay follows (no `end` set)
        *warmup(args.pretrain_iters),
        f'default_hooks.checkpoint.interval={args.pretrain_iters}',
        f'default_hooks.logger.interval={max(1, args.pretrain_iters // 30)}',
        *extra,
        # the online k-NN (the config's KNNEvalHook, found by its type) on this run's
        # held-out scenes
        '--hook-options',
        f'KNNEvalHook.data_root={args.data}/knn',
        f'KNNEvalHook.interval={max(1, args.pretrain_iters // 8)}',
    ]


def pretrain(
    args, results: dict, name: str, extra: tuple = (), proc: subprocess.Popen | None = None
) -> dict:
    """The pretraining run ``name`` (run here, or ``proc`` already started in the background
    and waited for); its loss curve, k-NN curve and teacher backbone."""
    work_dir = osp.join(args.out, name)
    log_path = osp.join(args.out, f'{name}.log')
    if proc is None:
        run(pretrain_cmd(args, results, name, extra), log_path=log_path)
    elif proc.wait() != 0:
        with open(log_path) as f:
            raise failed(proc, ''.join(f.readlines()[-40:]), log_path)
    start, end, n = loss_curve(work_dir)
    scalars = latest(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    curves_png = osp.join(args.out, f'{name}_curves.png')
    run(
        [
            sys.executable,
            'tools/analysis_tools/plot_pretrain_curves.py',
            scalars,
            curves_png,
            '--title',
            f'tiny SkySense V2, {args.pretrain_iters} iterations on {args.data}',
        ],
        show=('wrote',),
    )
    with open(osp.splitext(curves_png)[0] + '.json') as f:
        knn = json.load(f).get('knn/top1')
    if not knn or len(knn['step']) < 2:
        raise SystemExit(f'{scalars} holds no online k-NN curve (knn/top1); expected one')
    return dict(
        checkpoint=latest(osp.join(work_dir, 'iter_*.pth')),
        backbone=extract_teacher(latest(osp.join(work_dir, 'iter_*.pth')), work_dir),
        loss_start=start,
        loss_end=end,
        logged=n,
        curves=curves_png,
        knn_steps=knn['step'],
        knn_top1=knn['value'],
    )


def extract_teacher(checkpoint: str, work_dir: str) -> str:
    """The EMA teacher's backbone, as a checkpoint the downstream configs load."""
    path = osp.join(work_dir, 'teacher_backbone.pth')
    run([sys.executable, 'tools/model_converters/extract_teacher_backbone.py', checkpoint, path])
    return path


def step_pretrain(args, results: dict) -> dict:
    """The recipe of ``--objective``; with ``whole``, the self-supervised terms alone run
    beside it (one process per core: each trains on one thread)."""
    if args.objective == 'whole':
        log = open(osp.join(args.out, 'pretrain_ssl.log'), 'w')
        args.ssl_proc = launch(pretrain_cmd(args, results, 'pretrain_ssl', SSL_ONLY), log)
        log.close()  # the child holds its own descriptor
        print(f'   (the self-supervised terms alone run beside it: {args.out}/pretrain_ssl.log)')
    return pretrain(args, results, 'pretrain')


def step_pretrain_ssl(args, results: dict) -> dict:
    """The self-supervised terms alone (ITA weighted 0): the same recipe, no label; started
    with the whole objective's run, waited for here."""
    return pretrain(args, results, 'pretrain_ssl', SSL_ONLY, proc=args.ssl_proc)


def step_knn(args, results: dict) -> dict:
    """k-NN top-1 on the held-out scenes: random initialisation, the pretrained teacher and,
    with ``--objective whole``, the teacher of the self-supervised part alone."""
    data = results['data']
    knn = {}
    runs = [('random', None), ('pretrained', results['pretrain']['backbone'])]
    if 'pretrain_ssl' in results:
        runs.insert(1, ('ssl_only', results['pretrain_ssl']['backbone']))
    for name, ckpt in runs:
        path = osp.join(args.out, f'knn_{name}.json')
        cmd = [
            sys.executable,
            'tools/analysis_tools/knn_eval.py',
            args.pretrain_cfg_path,
            '--data-root',
            osp.join(args.data, 'knn'),
            '--out',
            path,
            '--cfg-options',
            f'model.ita_head.loss.text_embeddings={data["text_embeddings"]}',
        ]
        run(cmd + (['--checkpoint', ckpt] if ckpt else []))
        with open(path) as f:
            knn[name] = json.load(f)
    return knn


def step_finetune(args, results: dict) -> dict:
    """UperNet from the pretrained backbone (tools/train.py), then its test metrics
    (tools/test.py's JSON)."""
    backbone = results['pretrain']['backbone']
    work_dir = osp.join(args.out, 'finetune')
    opts = [
        f'model.backbone.init_cfg.checkpoint={backbone}',
        f'train_dataloader.dataset.data_root={args.data}/finetune/train',
        f'val_dataloader.dataset.data_root={args.data}/finetune/val',
        f'test_dataloader.dataset.data_root={args.data}/finetune/val',
        f'train_cfg.max_iters={args.finetune_iters}',  # the decay follows (no `end` set)
        *warmup(args.finetune_iters),
        f'train_cfg.val_interval={args.finetune_iters}',
        f'default_hooks.checkpoint.interval={args.finetune_iters}',
    ]
    run(
        [sys.executable, 'tools/train.py', args.finetune_cfg_path, '--work-dir', work_dir]
        + ['--cfg-options']
        + opts,
        log_path=osp.join(args.out, 'finetune.log'),
    )
    ckpt = latest(osp.join(work_dir, 'iter_*.pth'))
    metrics_path = osp.join(work_dir, 'test_metrics.json')
    run(
        [
            sys.executable,
            'tools/test.py',
            args.finetune_cfg_path,
            ckpt,
            '--work-dir',
            work_dir,
            '--metrics-out',
            metrics_path,
            '--cfg-options',
        ]
        + opts[1:],
        log_path=osp.join(args.out, 'finetune_test.log'),
    )
    with open(metrics_path) as f:
        metrics = json.load(f)['metrics']
    if 'mIoU' not in metrics:
        raise SystemExit(f'{metrics_path} holds no mIoU: {sorted(metrics)}')
    return dict(checkpoint=ckpt, miou=metrics['mIoU'], metrics_path=metrics_path)


def step_inference(args, results: dict) -> dict:
    """tools/infer_large_scene.py over the large scene; the map compared with the scene's own
    labels, and tiled against one-pass inference on a crop."""
    import rasterio

    data, finetune = results['data'], results['finetune']
    class_map = osp.join(args.out, 'scene_classes.tif')
    preview = osp.join(args.out, 'scene_classes.png')
    # the weights come from the fine-tuned checkpoint (init_model ignores the backbone's
    # init_cfg), so no --cfg-options are needed here
    run(
        [
            sys.executable,
            'tools/infer_large_scene.py',
            args.finetune_cfg_path,
            finetune['checkpoint'],
            data['scene'],
            class_map,
            '--preview',
            preview,
            '--tile',
            '256',
            '--overlap',
            '64',
        ],
        show=('class map', 'preview'),
    )
    with rasterio.open(class_map) as a, rasterio.open(data['scene_labels']) as b:
        pred, ref = a.read(1), b.read(1)
        same_grid = a.crs == b.crs and a.transform == b.transform
    keep = (ref != 255) & (pred != 255)
    return dict(
        class_map=class_map,
        preview=preview,
        same_grid=same_grid,
        accuracy=float((pred[keep] == ref[keep]).mean() * 100),
        agreement=tiled_vs_untiled(
            args.finetune_cfg, finetune['checkpoint'], data['scene'], args.out
        ),
    )


class Step(NamedTuple):
    name: str  # its key in the results, the summary and the timings
    title: str  # formatted with the arguments
    run: Callable[[argparse.Namespace, dict], dict]  # (args, results of the steps before)


STEPS = (
    Step(
        'data',
        'generating the demo dataset (GeoTIFFs with CRS, transforms, nodata, dates)',
        step_data,
    ),
    Step(
        'pretrain',
        'pretraining the tiny SkySense V2 for {pretrain_iters} iterations ({objective})',
        step_pretrain,
    ),
    Step(
        'pretrain_ssl',
        'the same recipe with the self-supervised terms alone (no label), run beside it',
        step_pretrain_ssl,
    ),
    Step('knn', 'k-NN scene classification on held-out generated scenes', step_knn),
    Step(
        'finetune',
        'fine-tuning UperNet from the pretrained backbone ({finetune_iters} it)',
        step_finetune,
    ),
    Step(
        'inference',
        'segmenting the large scene by tiles (GeoTIFF class map + PNG preview)',
        step_inference,
    ),
)


def summarise(args, results: dict, seconds: dict) -> dict:
    """What summary.json holds: the figures as numbers, the outputs as paths."""
    pretrain, knn, scene = results['pretrain'], results['knn'], results['inference']
    ssl = results.get('pretrain_ssl')
    out = args.out
    summary = dict(
        objective=args.objective,
        world=args.world,
        pretrain=dict(
            iters=args.pretrain_iters,
            loss_start=pretrain['loss_start'],
            loss_end=pretrain['loss_end'],
            logged_points=pretrain['logged'],
            knn_steps=pretrain['knn_steps'],
            knn_top1=pretrain['knn_top1'],
        ),
        knn=dict(
            random_top1=knn['random']['top1'],
            majority_baseline=knn['random']['majority_baseline'],
            pretrained_top1=knn['pretrained']['top1'],
        ),
        finetune=dict(iters=args.finetune_iters, miou=results['finetune']['miou']),
        inference=dict(
            accuracy=scene['accuracy'],
            same_grid=scene['same_grid'],
            tiled_agreement=scene['agreement'],
        ),
        outputs=dict(
            pretrain_curves=pretrain['curves'],
            pretrain_checkpoint=pretrain['checkpoint'],
            teacher_backbone=pretrain['backbone'],
            finetune_checkpoint=results['finetune']['checkpoint'],
            class_map=scene['class_map'],
            preview=scene['preview'],
            logs=[f'{out}/pretrain.log', f'{out}/finetune.log', f'{out}/finetune_test.log'],
        ),
        seconds=seconds,
    )
    if ssl is not None:
        summary['pretrain_ssl'] = dict(
            loss_start=ssl['loss_start'],
            loss_end=ssl['loss_end'],
            knn_steps=ssl['knn_steps'],
            knn_top1=ssl['knn_top1'],
        )
        summary['knn']['ssl_only_top1'] = knn['ssl_only']['top1']
        summary['outputs']['pretrain_ssl_curves'] = ssl['curves']
        summary['outputs']['logs'].insert(1, f'{out}/pretrain_ssl.log')
    return summary


def display_rows(summary: dict) -> list[tuple[str, str]]:
    """The printed table: display strings made from summary.json's numbers."""
    pre, knn, ft, sc = (summary[k] for k in ('pretrain', 'knn', 'finetune', 'inference'))
    ssl = summary.get('pretrain_ssl')
    paths, sec = summary['outputs'], summary['seconds']
    steps = {k: v for k, v in sec.items() if k != 'total'}

    def curve(run: dict) -> str:
        return ' -> '.join(f'{v:.1f} % ({s})' for s, v in zip(run['knn_steps'], run['knn_top1']))

    def gain(top1: float) -> str:
        return f'{top1:.1f} % ({top1 - knn["random_top1"]:+.1f} points over random)'

    return [
        (
            'pretraining loss, start -> end',
            f'{pre["loss_start"]:.3f} -> {pre["loss_end"]:.3f} ({pre["logged_points"]} '
            f'logged points, {pre["iters"]} it)',
        ),
        (
            'k-NN top-1, random weights',
            f'{knn["random_top1"]:.1f} % (majority class {knn["majority_baseline"]:.1f} %)',
        ),
        *(
            [
                ('k-NN top-1, self-supervised terms alone', gain(knn['ssl_only_top1'])),
                ('k-NN during pretraining, SSL alone', curve(ssl)),
            ]
            if ssl
            else []
        ),
        (
            f'k-NN top-1, pretrained ({summary["objective"]}, {summary["world"]} world)',
            gain(knn['pretrained_top1']),
        ),
        ('k-NN during pretraining', curve(pre)),
        ('pretraining curves (loss, k-NN, monitors)', paths['pretrain_curves']),
        ('fine-tuned UperNet mIoU (val)', f'{ft["miou"]:.2f}'),
        (
            'large-scene map vs its OSM labels',
            f'{sc["accuracy"]:.1f} % pixel accuracy'
            f'{" (same CRS/transform)" if sc["same_grid"] else ""}',
        ),
        ('tiled (128/32) vs untiled, 512 crop', f'{sc["tiled_agreement"]:.2f} % of pixels agree'),
        ('pretraining checkpoint', paths['pretrain_checkpoint']),
        ('teacher backbone', paths['teacher_backbone']),
        ('fine-tuned checkpoint', paths['finetune_checkpoint']),
        ('class map GeoTIFF', paths['class_map']),
        ('preview PNG', paths['preview']),
        ('logs', ', '.join(paths['logs'])),
        (
            'time',
            f'{sec["total"] / 60:.1f} min ('
            + ', '.join(f'{k} {v:.0f} s' for k, v in steps.items())
            + ')',
        ),
    ]


def parse_args(argv=None) -> argparse.Namespace:
    """The arguments, with the two configs loaded once (``pretrain_cfg``, ``finetune_cfg``)."""
    from mmengine.config import Config

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--out', default='demo_outputs')
    ap.add_argument(
        '--data',
        default=None,
        help='where the data is generated (default: data/geo_demo, data/geo_demo_texture for '
        'the texture world: a folder holds one world)',
    )
    ap.add_argument(
        '--pretrain-iters', type=int, default=None, help="default: the recipe's max_iters"
    )
    ap.add_argument('--finetune-iters', type=int, default=100)
    ap.add_argument('--scene-size', type=int, default=2048, help='HR pixels of the large scene')
    ap.add_argument(
        '--objective',
        choices=sorted(PRETRAIN_CFGS),
        default='whole',
        help="whole: the paper's four terms, and the self-supervised terms alone beside them; "
        "ita: the tiny recipe's ITA on HR views (the quick demo on the colour world)",
    )
    ap.add_argument(
        '--world',
        choices=sorted(WORLDS),
        default='texture',
        help='texture: classes set by HR structure, colours random per region (256 pretraining '
        'samples); colour: classes set by colour (16 samples)',
    )
    ap.add_argument('--quick', action='store_true', help='a smoke run: few iterations')
    args = ap.parse_args(argv)
    args.pretrain_cfg_path = PRETRAIN_CFGS[args.objective]
    args.pretrain_cfg = Config.fromfile(osp.join(ROOT, args.pretrain_cfg_path))
    if args.data is None:
        args.data = 'data/geo_demo' + ('' if args.world == 'colour' else f'_{args.world}')
    args.finetune_cfg_path = WORLDS[args.world]['finetune_cfg']
    args.finetune_cfg = Config.fromfile(osp.join(ROOT, args.finetune_cfg_path))
    if args.quick:
        args.pretrain_iters, args.finetune_iters, args.scene_size = 20, 10, 512
    elif args.pretrain_iters is None:
        args.pretrain_iters = args.pretrain_cfg.train_cfg.max_iters
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.chdir(ROOT)
    # a previous run's checkpoints would be taken for this run's: start clean
    for sub in ('pretrain', 'pretrain_ssl', 'finetune'):
        shutil.rmtree(osp.join(args.out, sub), ignore_errors=True)
    os.makedirs(args.out, exist_ok=True)
    # one torch thread per process next to the data workers: oversubscribing 2 cores is slower
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    t_start, results, seconds = time.time(), {}, {}
    steps = [s for s in STEPS if s.name != 'pretrain_ssl' or args.objective == 'whole']
    try:
        for i, s in enumerate(steps, 1):
            t = step(f'{i}/{len(steps)} ' + s.title.format(**vars(args)))
            results[s.name] = s.run(args, results)
            seconds[s.name] = time.time() - t
    finally:
        # a step that failed leaves no training running in the background
        proc = getattr(args, 'ssl_proc', None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
    seconds['total'] = time.time() - t_start

    summary = summarise(args, results, seconds)
    rows = display_rows(summary)
    width = max(len(r[0]) for r in rows)
    print('\n' + '=' * 78 + '\nmmskysense demo: results\n' + '=' * 78)
    for k, v in rows:
        print(f'{k:<{width}}  {v}')
    with open(osp.join(args.out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    return summary


if __name__ == '__main__':
    main()
