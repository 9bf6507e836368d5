# The main job end to end (make demo): from generated multi-modal GeoTIFFs to a georeferenced map.
#
#   .venv/bin/python tools/demo.py [--out demo_outputs] [--data data/geo_demo] [--quick]
#
# 1. generate the demo dataset: geo-aligned HR / Sentinel-2 / Sentinel-1 GeoTIFF samples with
#    OSM-like labels (pretraining, k-NN scenes, a labelled fine-tuning set, one large scene)
# 2. pretrain the tiny SkySense V2 (tools/train.py, the tiny CPU recipe)
# 3. extract the teacher backbone from the last pretraining checkpoint
# 4. k-NN scene classification with random and with pretrained weights
# 5. fine-tune UperNet on the labelled set from the pretrained backbone and test it (mIoU)
# 6. segment the large scene tile by tile into a GeoTIFF class map and a PNG preview
# and prints a table of the results and the paths of every output.
import argparse
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The demo's land-cover classes differ mainly by colour and spectrum: the recipe without
# photometric jitter keeps that information, where the jittered one trains it away (see the
# config's header for the k-NN figures of both).
PRETRAIN_CFG = 'configs/skysense_v2/skysense-v2_tiny_1xb2-300it_cpu_pretrain_nojitter.py'
FINETUNE_CFG = 'configs/demo/upernet_skysense-v2-tiny_geo-demo.py'


def step(title: str) -> float:
    print(f'\n=== {title}', flush=True)
    return time.time()


def run(cmd, log_path=None, env_extra=None, show=('Iter(', 'mIoU', 'k-NN', 'Error')):
    """Run a tool; stream the lines that show progress, keep the whole output in ``log_path``."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    env.update(env_extra or {})
    cmd = [str(c) for c in cmd]
    log = open(log_path, 'w') if log_path else None
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
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
        sys.stdout.write(''.join(tail))
        raise SystemExit(
            f'demo step failed ({proc.returncode}): {" ".join(cmd)}'
            + (f'\nfull log: {log_path}' if log_path else '')
        )


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


def tiled_vs_untiled(ckpt: str, scene_path: str, out: str, size: int = 512) -> float:
    """Agreement of tiled (128 px tiles, 32 px overlap) and one-pass inference on a crop."""
    import rasterio
    from rasterio.windows import Window

    from mmskysense.apis import init_model, segment_geotiff, segmentor_predict_fn

    model, meta = init_model(FINETUNE_CFG, ckpt, cfg_options={'model.backbone.init_cfg': None})
    predict = segmentor_predict_fn(model)
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
            predict,
            crop,
            path,
            num_classes=len(meta['classes']),
            tile=tile,
            overlap=overlap,
            progress=False,
        )
        with rasterio.open(path) as f:
            maps.append(f.read(1))
    return float((maps[0] == maps[1]).mean() * 100)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--out', default='demo_outputs')
    ap.add_argument('--data', default='data/geo_demo')
    ap.add_argument('--pretrain-iters', type=int, default=300)
    ap.add_argument('--finetune-iters', type=int, default=100)
    ap.add_argument('--scene-size', type=int, default=2048, help='HR pixels of the large scene')
    ap.add_argument('--quick', action='store_true', help='a smoke run: few iterations')
    args = ap.parse_args()
    if args.quick:
        args.pretrain_iters, args.finetune_iters, args.scene_size = 20, 10, 512
    os.chdir(ROOT)
    out, data = args.out, args.data
    # a previous run's checkpoints would be taken for this run's: start clean
    for sub in ('pretrain', 'finetune'):
        shutil.rmtree(osp.join(out, sub), ignore_errors=True)
    os.makedirs(out, exist_ok=True)
    py = sys.executable
    # one torch thread per process next to the data workers: oversubscribing 2 cores is slower
    threads = dict(OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'))
    t_start = time.time()
    timings = {}

    t = step('1/6 generating the demo dataset (GeoTIFFs with CRS, transforms, nodata, dates)')
    import numpy as np

    from mmskysense.datasets.geo.synthetic import generate_geo_dataset, generate_sample

    generate_geo_dataset(data, num_samples=16, seed=0)
    generate_geo_dataset(osp.join(data, 'knn'), num_samples=12, seed=1, write_index=False)
    generate_geo_dataset(
        osp.join(data, 'finetune', 'train'), num_samples=16, seed=100, write_index=False
    )
    generate_geo_dataset(
        osp.join(data, 'finetune', 'val'), num_samples=6, seed=200, write_index=False
    )
    scene = generate_sample(
        osp.join(data, 'scene'),
        np.random.default_rng(300),
        hr_size=args.scene_size,
        num_s2_dates=2,
        num_s1_dates=1,
    )
    text_emb = osp.join(data, 'osm_text_embeddings_random.pth')
    run([py, 'tools/misc/gen_text_embeddings.py', text_emb, '--backend', 'random'])
    print(f'   pretraining samples: {data}/samples (index {data}/index.json)')
    print(f'   large scene: {scene["folder"]}/hr.tif ({args.scene_size} x {args.scene_size})')
    timings['data'] = time.time() - t

    t = step(f'2/6 pretraining the tiny SkySense V2 for {args.pretrain_iters} iterations')
    pre_dir = osp.join(out, 'pretrain')
    run(
        [
            py,
            'tools/train.py',
            PRETRAIN_CFG,
            '--work-dir',
            pre_dir,
            '--cfg-options',
            f'train_dataloader.dataset.data_root={data}/',
            f'model.ita_loss.text_embeddings={text_emb}',
            f'train_cfg.max_iters={args.pretrain_iters}',
            f'default_hooks.checkpoint.interval={args.pretrain_iters}',
            f'default_hooks.logger.interval={max(1, args.pretrain_iters // 30)}',
        ],
        log_path=osp.join(out, 'pretrain.log'),
        env_extra=threads,
    )
    loss_start, loss_end, n_logged = loss_curve(pre_dir)
    pre_ckpt = latest(osp.join(pre_dir, 'iter_*.pth'))
    timings['pretrain'] = time.time() - t

    t = step('3/6 extracting the teacher backbone')
    backbone_ckpt = osp.join(pre_dir, 'teacher_backbone.pth')
    run([py, 'tools/model_converters/extract_teacher_backbone.py', pre_ckpt, backbone_ckpt])
    timings['extract'] = time.time() - t

    t = step('4/6 k-NN scene classification on held-out generated scenes')
    knn = {}
    for name, ckpt in (('random', None), ('pretrained', backbone_ckpt)):
        res = osp.join(out, f'knn_{name}.json')
        cmd = [
            py,
            'tools/analysis_tools/knn_eval.py',
            PRETRAIN_CFG,
            '--data-root',
            osp.join(data, 'knn'),
            '--out',
            res,
            '--cfg-options',
            f'model.ita_loss.text_embeddings={text_emb}',
        ]
        if ckpt:
            cmd += ['--checkpoint', ckpt]
        run(cmd, env_extra=threads)
        with open(res) as f:
            knn[name] = json.load(f)
    timings['knn'] = time.time() - t

    t = step(f'5/6 fine-tuning UperNet from the pretrained backbone ({args.finetune_iters} it)')
    ft_dir = osp.join(out, 'finetune')
    warmup = max(1, min(20, args.finetune_iters // 5))
    ft_opts = [
        f'model.backbone.init_cfg.checkpoint={backbone_ckpt}',
        f'train_dataloader.dataset.data_root={data}/finetune/train',
        f'val_dataloader.dataset.data_root={data}/finetune/val',
        f'test_dataloader.dataset.data_root={data}/finetune/val',
        f'train_cfg.max_iters={args.finetune_iters}',
        f'train_cfg.val_interval={args.finetune_iters}',
        f'default_hooks.checkpoint.interval={args.finetune_iters}',
        f'param_scheduler.0.end={warmup}',
        f'param_scheduler.1.begin={warmup}',
        f'param_scheduler.1.end={args.finetune_iters}',
    ]
    run(
        [py, 'tools/train.py', FINETUNE_CFG, '--work-dir', ft_dir, '--cfg-options'] + ft_opts,
        log_path=osp.join(out, 'finetune.log'),
        env_extra=threads,
    )
    ft_ckpt = latest(osp.join(ft_dir, 'iter_*.pth'))
    test_log = osp.join(out, 'finetune_test.log')
    run(
        [py, 'tools/test.py', FINETUNE_CFG, ft_ckpt, '--work-dir', ft_dir, '--cfg-options']
        + ft_opts,
        log_path=test_log,
        env_extra=threads,
    )
    miou = None
    with open(test_log) as f:
        for line in f:
            if line.startswith('mIoU:'):
                miou = float(line.split(':')[1])
    if miou is None:
        raise SystemExit(f'tools/test.py printed no mIoU (see {test_log})')
    timings['finetune'] = time.time() - t

    t = step('6/6 segmenting the large scene by tiles (GeoTIFF class map + PNG preview)')
    class_map = osp.join(out, 'scene_classes.tif')
    preview = osp.join(out, 'scene_classes.png')
    run(
        [
            py,
            'tools/infer_large_scene.py',
            FINETUNE_CFG,
            ft_ckpt,
            osp.join(scene['folder'], 'hr.tif'),
            class_map,
            '--preview',
            preview,
            '--tile',
            '256',
            '--overlap',
            '64',
            '--cfg-options',
        ]
        + ft_opts[:1],
        env_extra=threads,
        show=('class map', 'preview'),
    )
    # how the map agrees with the scene's own (held-out) OSM-like labels
    import rasterio

    with rasterio.open(class_map) as a, rasterio.open(osp.join(scene['folder'], 'osm.tif')) as b:
        pred, ref = a.read(1), b.read(1)
        same_grid = a.crs == b.crs and a.transform == b.transform
    keep = (ref != 255) & (pred != 255)
    scene_acc = float((pred[keep] == ref[keep]).mean() * 100)
    agreement = tiled_vs_untiled(ft_ckpt, osp.join(scene['folder'], 'hr.tif'), out)
    timings['inference'] = time.time() - t

    total = time.time() - t_start
    rows = [
        (
            'pretraining loss, start -> end',
            f'{loss_start:.3f} -> {loss_end:.3f} '
            f'({n_logged} logged points, {args.pretrain_iters} it)',
        ),
        (
            'k-NN top-1, random weights',
            f'{knn["random"]["top1"]:.1f} % (majority class '
            f'{knn["random"]["majority_baseline"]:.1f} %)',
        ),
        ('k-NN top-1, pretrained', f'{knn["pretrained"]["top1"]:.1f} %'),
        ('fine-tuned UperNet mIoU (val)', f'{miou:.2f}'),
        (
            'large-scene map vs its OSM labels',
            f'{scene_acc:.1f} % pixel accuracy{" (same CRS/transform)" if same_grid else ""}',
        ),
        ('tiled (128/32) vs untiled, 512 crop', f'{agreement:.2f} % of pixels agree'),
        ('pretraining checkpoint', pre_ckpt),
        ('teacher backbone', backbone_ckpt),
        ('fine-tuned checkpoint', ft_ckpt),
        ('class map GeoTIFF', class_map),
        ('preview PNG', preview),
        ('logs', f'{out}/pretrain.log, {out}/finetune.log, {test_log}'),
        (
            'time',
            f'{total / 60:.1f} min ('
            + ', '.join(f'{k} {v:.0f} s' for k, v in timings.items())
            + ')',
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print('\n' + '=' * 78 + '\nmmskysense demo: results\n' + '=' * 78)
    for k, v in rows:
        print(f'{k:<{width}}  {v}')
    with open(osp.join(out, 'summary.json'), 'w') as f:
        json.dump(dict(rows), f, indent=1)


if __name__ == '__main__':
    main()
