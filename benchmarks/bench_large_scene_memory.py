"""Peak memory of large-scene inference against scene size (memory bounded by the tile batch).

Runs tools-level inference (mmskysense.apis.segment_geotiff with a tiny SkySense V2 UperNet) in a
fresh process per scene, on a scene and on one 16 times larger (4x per side), and prints the peak
resident memory each run added over its state just before inference, and their ratio.

    .venv/bin/python benchmarks/bench_large_scene_memory.py [--side 1024] [--tile 256]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
import numpy as np, rasterio, torch
from rasterio.transform import from_origin
from mmskysense.apis import segment_geotiff, segmentor_predict_fn
from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules

side, tile, path, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
# write the scene by strips, so that making it does not count in this process's peak
with rasterio.open(path, 'w', driver='GTiff', height=side, width=side, count=3, dtype='uint8',
                   crs='EPSG:32633', transform=from_origin(5e5, 4.1e6, 0.3, 0.3), tiled=True,
                   blockxsize=256, blockysize=256) as dst:
    rng = np.random.default_rng(0)
    for y in range(0, side, 256):
        h = min(256, side - y)
        dst.write(rng.integers(0, 255, (3, h, side), dtype=np.uint8),
                  window=rasterio.windows.Window(0, y, side, h))
register_all_modules()
torch.manual_seed(0)
model = MODELS.build(dict(
    type='mmseg.EncoderDecoder',
    data_preprocessor=dict(type='mmseg.SegDataPreProcessor', mean=[120.] * 3, std=[60.] * 3),
    backbone=dict(type='SkySenseV2SingleModal', arch='tiny', modality='hr'),
    decode_head=dict(type='mmseg.UPerHead', in_channels=[32, 64, 128, 256], in_index=[0, 1, 2, 3],
                     channels=32, num_classes=6, norm_cfg=dict(type='BN', requires_grad=True),
                     loss_decode=dict(type='mmseg.CrossEntropyLoss'))))
predict = segmentor_predict_fn(model)
predict(torch.zeros(2, 3, tile, tile, dtype=torch.uint8))  # warm-up: allocator and kernels
import gc; gc.collect()
rss_before = int(open('/proc/self/statm').read().split()[1]) * 4096
t0 = time.perf_counter()
segment_geotiff(predict, path, out, num_classes=6, tile=tile, overlap=tile // 4, batch_size=2,
                progress=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(dict(side=side, before_mb=rss_before / 2**20, peak_mb=peak / 2**20,
                      added_mb=(peak - rss_before) / 2**20, seconds=time.perf_counter() - t0)))
"""


def run(side: int, tile: int, workdir: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '2'))
    proc = subprocess.run(
        [
            sys.executable,
            '-c',
            CHILD,
            str(side),
            str(tile),
            os.path.join(workdir, f's{side}.tif'),
            os.path.join(workdir, f'c{side}.tif'),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--side', type=int, default=1024)
    ap.add_argument('--tile', type=int, default=256)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        small = run(args.side, args.tile, d)
        large = run(args.side * 4, args.tile, d)
    for r in (small, large):
        print(
            f'scene {r["side"]}x{r["side"]}: peak RSS {r["peak_mb"]:.0f} MiB, '
            f'added by inference {r["added_mb"]:.0f} MiB, {r["seconds"]:.1f} s'
        )
    print(
        f'pixels ratio: 16x; peak RSS ratio: {large["peak_mb"] / small["peak_mb"]:.2f}; '
        f'added-memory ratio: {large["added_mb"] / max(small["added_mb"], 1e-6):.2f} (target < 2)'
    )


if __name__ == '__main__':
    main()
