"""Large-scene inference, every product of the one tile loop: tiles computed per tile in the
grid and peak memory against scene size, in one run.

Runs each product on a generated scene and on one 16 times larger (4x per side), each run in a
fresh process: the class map (``segment_geotiff``), the detections (``detect_geotiff``, a
stand-in detector returning ``--boxes`` boxes per patch: the model's own memory does not
depend on the scene) and the polygons (the class map, then ``polygonize_class_map``, what
``tools/infer_large_scene.py --vector`` does). Each process first runs its product on a small
warm-up scene (imports, allocator, GDAL drivers), then the peak is restarted
(``/proc/self/clear_refs``) and the product run on the measured scene. Prints per run the tiles
the model computed over the tiles of the grid (every tile of these scenes holds data: each must
be computed exactly once), the peak resident memory (VmHWM) and what the run added over the
state just before it, then per product the ratios of the two scenes' peaks against 1.2 x.

What a run adds: GDAL's block cache (16 MiB here), the tile batch, a tile-sized canvas and the
carry-over strip of the class map, (K + 2) x overlap x width float32 (moved to a temporary file
beyond --carry-mb), the detections kept until the merge (about 50 bytes each), the polygons'
open regions along a block row of the map. ``--reference`` also runs the block algorithm the
class map replaced (``tests/references/reference_large_scene.py``) and compares the maps.

The scene is piecewise constant (cells of ``--cell`` px, so that the map has regions to
polygonise); ``--model pixelwise`` (default) is a per-pixel function (the loop's own cost),
``--model upernet`` a tiny SkySense V2 UperNet with random weights (slower).

    python benchmarks/bench_large_scene_memory.py [--side 1024] [--tile 512] [--reference]
    python benchmarks/bench_large_scene_memory.py --model upernet --side 512
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
PRODUCTS = ('segmentation', 'detection', 'polygons')
LIMIT = 1.2  # peak memory at 16x the pixels within this factor (issue 27)
NUM_CLASSES = 6

CHILD = r"""
import gc, json, sys, time
import numpy as np, torch
a = json.loads(sys.argv[1])
sys.path.insert(0, a['references'])
from mmskysense.apis import detect_geotiff, segment_geotiff
from mmskysense.apis.scene import polygonize_class_map, segmentor_predict_fn
from mmskysense.datasets.tiling import TileGrid

product, K = a['product'], a['classes']
tile, overlap = (a['det_tile'], a['det_tile'] // 4) if product == 'detection' else (a['tile'],
                                                                                    a['overlap'])

def pixelwise(tiles):  # a per-pixel model: what the loop itself costs
    x = tiles.float()
    logits = torch.cat([x, x[:, :1] - x[:, 1:2], x[:, 2:] - x[:, :1], -x[:, 1:2]], 1)
    return logits.softmax(1)

def boxes(tiles):  # boxes on a grid inside each patch, scored by the patch's content
    g = int(np.ceil(np.sqrt(a['boxes'])))
    step = tiles.shape[-1] / g
    out = []
    for t in tiles:
        xy = torch.stack(torch.meshgrid(torch.arange(g), torch.arange(g), indexing='xy'), -1)
        xy = xy.reshape(-1, 2)[:a['boxes']].float() * step
        b = torch.cat([xy + 2, xy + step - 2], 1)
        s = t.float().mean() / 255 * torch.ones(len(b))
        out.append(dict(bboxes=b, scores=s, labels=torch.arange(len(b)) % 3))
    return out

predict = pixelwise
if product == 'detection':
    predict = boxes
elif a['model'] == 'upernet':
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    predict = segmentor_predict_fn(MODELS.build(dict(
        type='mmseg.EncoderDecoder',
        data_preprocessor=dict(type='mmseg.SegDataPreProcessor', mean=[120.] * 3, std=[60.] * 3),
        backbone=dict(type='SkySenseV2SingleModal', arch='tiny', modality='hr'),
        decode_head=dict(type='mmseg.UPerHead', in_channels=[32, 64, 128, 256],
                         in_index=[0, 1, 2, 3], channels=32, num_classes=K,
                         norm_cfg=dict(type='BN', requires_grad=True),
                         loss_decode=dict(type='mmseg.CrossEntropyLoss')))))
computed = []
def counted(tiles):
    computed.append(len(tiles))
    return predict(tiles)

def run(scene, out):
    opts = dict(tile=tile, overlap=overlap, batch_size=a['batch_size'], progress=False,
                gdal_cache_mb=16)
    if product == 'detection':
        return len(detect_geotiff(counted, scene, out + '.geojson', ['a', 'b', 'c'], **opts))
    if product == 'reference':
        import reference_large_scene as ref
        ref.segment_geotiff_blocks(counted, scene, out + '.tif', num_classes=K, **opts)
        return None
    segment_geotiff(counted, scene, out + '.tif', K, carry_mb=a['carry_mb'], **opts)
    if product == 'polygons':
        return polygonize_class_map(out + '.tif', out + '.gpkg').polygons
    return None

run(a['warm'], a['out'] + '_warm')  # imports, allocator, GDAL drivers: not the scene's cost
computed.clear()
gc.collect()
open('/proc/self/clear_refs', 'w').write('5')  # the peak (VmHWM) restarts from here
status = lambda key: int(next(l for l in open('/proc/self/status') if l.startswith(key)).split()[1])
before = status('VmRSS') / 1024
t0 = time.perf_counter()
items = run(a['scene'], a['out'])
seconds = time.perf_counter() - t0
print(json.dumps(dict(product=product, side=a['side'], computed=sum(computed),
                      needed=len(TileGrid(a['side'], a['side'], tile, overlap)), items=items,
                      before_mb=before, peak_mb=status('VmHWM') / 1024, seconds=seconds)))
"""


def write_scene(path: str, side: int, cell: int) -> None:
    """A piecewise-constant RGB scene (cells of ``cell`` px), written by strips, in the parent
    (making it does not count in any run's peak)."""
    import rasterio
    from bench_scene_inference import geotiff_profile
    from rasterio.windows import Window

    rng = np.random.default_rng(0)
    cells = rng.integers(1, 255, (3, -(-side // cell), -(-side // cell)), dtype=np.uint8)
    with rasterio.open(path, 'w', **geotiff_profile(side)) as dst:
        for y in range(0, side, 256):
            h = min(256, side - y)
            rows = np.arange(y, y + h) // cell
            strip = cells[:, rows].repeat(cell, axis=2)[:, :, :side]
            dst.write(strip, window=Window(0, y, side, h))


def run(product: str, side: int, workdir: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '2'))
    child = dict(
        vars(args),
        product=product,
        side=side,
        scene=os.path.join(workdir, f'scene{side}.tif'),
        warm=os.path.join(workdir, 'warm.tif'),
        out=os.path.join(workdir, f'{product}{side}'),
        references=REFERENCES,
        classes=NUM_CLASSES,
    )
    proc = subprocess.run(
        [sys.executable, '-c', CHILD, json.dumps(child)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-4000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result['out'] = child['out'] + '.tif'
    result['added_mb'] = result['peak_mb'] - result['before_mb']
    return result


def same_map(a: str, b: str) -> bool:
    import rasterio

    with rasterio.open(a) as fa, rasterio.open(b) as fb:
        return fa.shape == fb.shape and bool(np.array_equal(fa.read(1), fb.read(1)))


def report(r: dict) -> str:
    items = '' if r['items'] is None else f', {r["items"]} {ITEMS[r["product"]]}'
    return (
        f'{r["product"]:<12} {r["side"]:>5} x {r["side"]:<5} tiles computed / in the grid: '
        f'{r["computed"]:>4} / {r["needed"]:<4}  peak RSS {r["peak_mb"]:6.0f} MiB '
        f'(added {r["added_mb"]:6.1f}), {r["seconds"]:6.1f} s{items}'
    )


ITEMS = dict(detection='detections', polygons='polygons')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--side', type=int, default=1024, help='side of the small scene (px)')
    ap.add_argument('--tile', type=int, default=512, help='class map tile (px)')
    ap.add_argument('--overlap', type=int, default=128)
    ap.add_argument('--det-tile', type=int, default=256, help='detection patch (overlap 1/4)')
    ap.add_argument('--boxes', type=int, default=20, help='detection: boxes per patch')
    ap.add_argument('--batch-size', type=int, default=2)
    ap.add_argument('--cell', type=int, default=32, help="the scene's cells (px)")
    ap.add_argument(
        '--model',
        choices=('pixelwise', 'upernet'),
        default='pixelwise',
        help='class map and polygons: a per-pixel function (the loop itself) or the network',
    )
    ap.add_argument(
        '--carry-mb', type=float, default=256, help='carry-over strip kept in memory up to this'
    )
    ap.add_argument(
        '--reference', action='store_true', help='also the block algorithm, and the maps compared'
    )
    args = ap.parse_args()
    sides = (args.side, args.side * 4)
    products = PRODUCTS + (('reference',) if args.reference else ())
    results = {}
    with tempfile.TemporaryDirectory() as d:
        write_scene(os.path.join(d, 'warm.tif'), 256, args.cell)
        for side in sides:
            write_scene(os.path.join(d, f'scene{side}.tif'), side, args.cell)
            for product in products:
                results[product, side] = r = run(product, side, d, args)
                print(report(r), flush=True)
            if args.reference:
                equal = same_map(
                    results['segmentation', side]['out'], results['reference', side]['out']
                )
                print(f'             class map == reference at {side} px: {equal}')
    from mmskysense.datasets.tiling import TileGrid

    for side in sides:
        rows = TileGrid(side, side, args.tile, args.overlap).rows
        carry = max([r + min(args.tile, side) - n for r, n in zip(rows, rows[1:])] or [0])
        strip = (NUM_CLASSES + 2) * carry * side * 4 / 2**20
        where = 'memory' if strip <= args.carry_mb else 'a temporary file'
        print(
            f'class map: carry-over strip at {side} px: {carry} rows, {strip:.1f} MiB, in {where}'
        )
    failed = []
    print(f'pixels x16 ({args.side} -> {args.side * 4} px per side), model {args.model}:')
    for product in products:
        small, large = results[product, sides[0]], results[product, sides[1]]
        once = all(results[product, s]['computed'] == results[product, s]['needed'] for s in sides)
        ratio = large['peak_mb'] / small['peak_mb']
        ok = once and ratio <= LIMIT
        if product != 'reference':  # the replaced algorithm: for comparison only
            failed += [] if ok else [product]
        print(
            f'  {product:<12} each tile computed once: {once}; peak RSS x{ratio:.2f} '
            f'(<= {LIMIT}: {ratio <= LIMIT}), added memory '
            f'x{large["added_mb"] / max(small["added_mb"], 1e-6):.2f} '
            f'({small["added_mb"]:.1f} -> {large["added_mb"]:.1f} MiB); time '
            f'x{large["seconds"] / small["seconds"]:.1f}   '
            f'{"PASS" if ok else "FAIL"}{" (not checked)" if product == "reference" else ""}'
        )
    print(
        f'{"PASS" if not failed else "FAIL: " + ", ".join(failed)} (each tile computed once, '
        f'peak RSS at 16x the pixels within {LIMIT}x; the peak includes the process before the '
        f'run, {results[PRODUCTS[0], sides[0]]["before_mb"]:.0f} MiB)'
    )
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
