"""Large-scene inference: tiles computed per tile needed, peak memory against scene size, and
the class map against the previous implementation's.

Runs ``segment_geotiff`` (a tiny SkySense V2 UperNet, random weights) on a generated scene and
on one 16 times larger (4x per side), each in a fresh process, and the same with the block
algorithm it replaced (``tests/references/reference_large_scene.py``). Prints per run the tiles
the model computed over the tiles the grid needs (every tile of these scenes holds data), the
peak resident memory the run added over the state just before it (the model is built and warmed
up first), and whether the two implementations' class maps are equal. What a run adds: GDAL's
block cache (16 MiB here, both), the tile batch, and for the new one a tile-sized canvas and the
carry-over strip, (K + 2) x overlap x width float32 (moved to a temporary file beyond carry_mb).

    .venv/bin/python benchmarks/bench_large_scene_memory.py [--side 1024] [--tile 512]
    python benchmarks/bench_large_scene_memory.py --model pixelwise --side 4096 --carry-mb 0
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# the previous implementation, kept as the tests' reference
REFERENCES = os.path.join(os.path.dirname(HERE), 'tests', 'references')

CHILD = r"""
import json, sys, time
import numpy as np, rasterio, torch
from rasterio.transform import from_origin
sys.path.insert(0, sys.argv[7])
import reference_large_scene as ref
from mmskysense.apis import segment_geotiff
from mmskysense.apis.scene import segmentor_predict_fn
from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules

impl, side, tile, overlap, path, out = sys.argv[1], *map(int, sys.argv[2:5]), *sys.argv[5:7]
kind, carry_mb = sys.argv[8], float(sys.argv[9])
with rasterio.open(path, 'w', driver='GTiff', height=side, width=side, count=3, dtype='uint8',
                   crs='EPSG:32633', transform=from_origin(5e5, 4.1e6, 0.3, 0.3), tiled=True,
                   blockxsize=256, blockysize=256) as dst:
    rng = np.random.default_rng(0)
    for y in range(0, side, 256):  # by strips: making the scene does not count in the peak
        h = min(256, side - y)
        dst.write(rng.integers(1, 255, (3, h, side), dtype=np.uint8),
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
if kind == 'pixelwise':  # a per-pixel model: what the loop itself costs
    def predict(tiles):
        x = tiles.float()
        logits = torch.cat([x, x[:, :1] - x[:, 1:2], x[:, 2:] - x[:, :1], -x[:, 1:2]], 1)
        return logits.softmax(1)
computed = []
def counted(tiles):
    computed.append(len(tiles))
    return predict(tiles)
predict(torch.zeros(2, 3, tile, tile, dtype=torch.uint8))  # warm-up: allocator and kernels
import gc; gc.collect()
open('/proc/self/clear_refs', 'w').write('5')  # the peak (VmHWM) restarts from here
status = lambda key: int(next(l for l in open('/proc/self/status') if l.startswith(key)).split()[1])
before = status('VmRSS') / 1024
t0 = time.perf_counter()
# the same GDAL block cache for both (the old default): it is part of what a run adds
if impl == 'new':
    segment_geotiff(counted, path, out, 6, tile=tile, overlap=overlap, batch_size=2,
                    progress=False, gdal_cache_mb=16, carry_mb=carry_mb)
else:
    ref.segment_geotiff_blocks(counted, path, out, num_classes=6, tile=tile, overlap=overlap,
                               batch_size=2, progress=False, gdal_cache_mb=16)
seconds = time.perf_counter() - t0
grid = ref.TileGrid(side, side, tile, overlap)
print(json.dumps(dict(impl=impl, side=side, computed=sum(computed),
                      needed=len(grid.rows) * len(grid.cols), before_mb=before,
                      peak_mb=status('VmHWM') / 1024, seconds=seconds)))
"""


def run(
    impl: str, side: int, tile: int, overlap: int, workdir: str, kind: str, carry_mb: float
) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '2'))
    out = os.path.join(workdir, f'{impl}{side}.tif')
    proc = subprocess.run(
        [
            sys.executable,
            '-c',
            CHILD,
            impl,
            str(side),
            str(tile),
            str(overlap),
            os.path.join(workdir, f'scene{side}.tif'),
            out,
            REFERENCES,
            kind,
            str(carry_mb),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-4000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result['out'] = out
    result['added_mb'] = result['peak_mb'] - result['before_mb']
    return result


def same_map(a: str, b: str) -> bool:
    import rasterio

    with rasterio.open(a) as fa, rasterio.open(b) as fb:
        return fa.shape == fb.shape and bool(np.array_equal(fa.read(1), fb.read(1)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--side', type=int, default=1024, help='side of the small scene (px)')
    ap.add_argument('--tile', type=int, default=512)
    ap.add_argument('--overlap', type=int, default=128)
    ap.add_argument(
        '--model',
        choices=('upernet', 'pixelwise'),
        default='upernet',
        help="pixelwise: a per-pixel function instead of the network (the loop's own cost)",
    )
    ap.add_argument(
        '--carry-mb', type=float, default=256, help='carry-over strip kept in memory up to this'
    )
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as d:
        for side in (args.side, args.side * 4):
            for impl in ('new', 'old'):
                results[impl, side] = r = run(
                    impl, side, args.tile, args.overlap, d, args.model, args.carry_mb
                )
                print(
                    f'{impl} {side:>5} x {side:<5} tiles computed / needed: '
                    f'{r["computed"]:>4} / {r["needed"]:<4} = {r["computed"] / r["needed"]:.2f}   '
                    f'peak RSS {r["peak_mb"]:6.0f} MiB (added {r["added_mb"]:5.0f}), '
                    f'{r["seconds"]:6.1f} s',
                    flush=True,
                )
            equal = same_map(results['new', side]['out'], results['old', side]['out'])
            print(f'      class map new == old at {side} px: {equal}')
    sys.path.insert(0, REFERENCES)
    import reference_large_scene as ref

    for side in (args.side, args.side * 4):
        rows = ref.TileGrid(side, side, args.tile, args.overlap).rows
        carry = max([r + min(args.tile, side) - n for r, n in zip(rows, rows[1:])] or [0])
        strip = (6 + 2) * carry * side * 4 / 2**20
        where = 'memory' if strip <= args.carry_mb else 'a temporary file'
        print(f'new: carry-over strip at {side} px: {carry} rows, {strip:.1f} MiB, in {where}')
    small, large = results['new', args.side], results['new', args.side * 4]
    print(
        f'new: pixels x16 -> peak RSS x{large["peak_mb"] / small["peak_mb"]:.2f}, added memory '
        f'x{large["added_mb"] / max(small["added_mb"], 1e-6):.2f}; time x'
        f'{large["seconds"] / small["seconds"]:.1f}; old/new time at {args.side * 4} px: '
        f'{results["old", args.side * 4]["seconds"] / large["seconds"]:.2f}'
    )


if __name__ == '__main__':
    main()
