"""Samples per second of one full pretraining sample: windowed reads vs whole rasters + crop.

    python benchmarks/bench_geo_loading.py --samples 10

Writes (once) paper-sized synthetic samples (HR 2048 x 2048 at 0.3125 m, S2/S1 64 x 64 at
10 m, 10 S2 and 5 S1 dates), then loads them through the base config's pipeline (2 global +
6 local views, all modalities, flips, photometric jitter, packing) with every modality read
``'window'`` (only the pixels of each view; HR views shrunk 2x or more from the file's
overviews, as a COG has them), ``'window-native'`` (the same without overviews) and ``'whole'``
(each raster read in full once per sample, views sliced from memory). The runs alternate in one
process, after a warm-up, so the page cache and the CPU are in the same state; files are
closed after each sample (no decoded tiles reused across samples, as in training); the ratio
window / whole is printed.
"""

import argparse
import copy
import os
import os.path as osp
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)  # run from a checkout without installing


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--samples', type=int, default=10, help='timed samples per mode')
    parser.add_argument('--warmup', type=int, default=2, help='untimed samples per mode')
    parser.add_argument('--hr-size', type=int, default=2048)
    parser.add_argument('--s2-dates', type=int, default=10)
    parser.add_argument('--s1-dates', type=int, default=5)
    parser.add_argument(
        '--data-dir',
        default=None,
        help='where the synthetic sample is written (default: a temp folder)',
    )
    parser.add_argument(
        '--num-samples', type=int, default=2, help='distinct synthetic samples, loaded in turn'
    )
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmskysense.datasets.geo import GeoMultiModalDataset, generate_geo_dataset

    torch.set_num_threads(1)  # a DataLoader worker's view of the machine
    DefaultScope.get_instance('bench-geo', scope_name='mmskysense')
    data_dir = args.data_dir or tempfile.mkdtemp(prefix='bench_geo_')
    index = osp.join(data_dir, 'index.json')
    if not osp.isfile(index):
        start = time.perf_counter()
        generate_geo_dataset(
            data_dir,
            num_samples=args.num_samples,
            seed=args.seed,
            hr_size=args.hr_size,
            num_s2_dates=args.s2_dates,
            num_s1_dates=args.s1_dates,
        )
        print(f'generated {data_dir} in {time.perf_counter() - start:.1f} s')
    hr_bytes = osp.getsize(osp.join(data_dir, 'samples', 'sample_00000', 'hr.tif'))
    print(
        f'HR GeoTIFF {args.hr_size} x {args.hr_size} x 3, {hr_bytes / 2**20:.1f} MiB on disk '
        f'(deflate, 256 x 256 tiles); {args.s2_dates} S2 and {args.s1_dates} S1 dates'
    )

    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', '_base_', 'datasets', 'skysense_pretrain_geotiff.py')
    )
    datasets = {}
    # 'window' is the default pipeline; 'window-native' ignores the HR overviews (pure windowed
    # reads of native pixels); 'whole' reads every raster in full and crops in memory
    for name, mode, overviews in (
        ('window', 'window', True),
        ('window-native', 'window', False),
        ('whole', 'whole', False),
    ):
        pipeline = copy.deepcopy(cfg.train_pipeline)
        pipeline[0]['num_frames'] = dict(s2=args.s2_dates, s1=args.s1_dates)
        pipeline[1]['read_mode'] = dict(hr=mode, s2=mode, s1=mode, osm=mode)
        pipeline[1]['use_overviews'] = overviews
        datasets[name] = GeoMultiModalDataset(ann_file=index, pipeline=pipeline)

    np.random.seed(args.seed)
    times: dict = {mode: [] for mode in datasets}
    for i in range(args.warmup + args.samples):
        for mode, dataset in datasets.items():  # alternate: same page cache and CPU state
            crop = dataset.pipeline.transforms[1]
            start = time.perf_counter()
            packed = dataset[i % len(dataset)]
            # in training a sample's files are rarely reopened before GDAL's block cache has
            # moved on: close them so that no run reuses decoded tiles of an earlier one
            crop.handles.close()
            elapsed = time.perf_counter() - start
            if i >= args.warmup:
                times[mode].append(elapsed)
    views = packed['inputs']
    print('views per sample: ' + ', '.join(f'{g}: {v.num_views}' for g, v in views.groups()))
    rates = {}
    for mode, ts in times.items():
        rates[mode] = len(ts) / sum(ts)
        print(
            f'{mode:>13}: {rates[mode]:6.2f} samples/s  (median {1000 * np.median(ts):.0f} ms '
            f'per sample over {len(ts)} samples, 1 thread, pid {os.getpid()})'
        )
    print(
        f'ratio windowed / whole-raster-then-crop: {rates["window"] / rates["whole"]:.2f}x '
        f'(without overviews: {rates["window-native"] / rates["whole"]:.2f}x)'
    )


if __name__ == '__main__':
    main()
