"""Peak memory of large-scene detection against scene size (issue 12: memory bounded by the
patch batch).

Runs ``mmskysense.apis.detect_geotiff`` in a fresh process per scene, on a scene and on one 16
times larger (4x per side), with a stand-in detector that returns ``--boxes`` boxes per patch
(the model's own memory does not depend on the scene), and prints the peak resident memory
each run added over its state just before the detection, the detections kept, and the ratio of
the two peaks. The detections themselves are kept until the merge (about 50 bytes each).

    .venv/bin/python benchmarks/bench_scene_detection_memory.py [--side 1024] [--tile 256]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from mmskysense.apis import detect_geotiff

side, tile, boxes, path, out = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                sys.argv[4], sys.argv[5])

def predict(tiles):
    # boxes on a grid inside each patch, scored by the patch's content
    g = int(np.ceil(np.sqrt(boxes)))
    step = tiles.shape[-1] / g
    out = []
    for t in tiles:
        xy = torch.stack(torch.meshgrid(torch.arange(g), torch.arange(g), indexing='xy'), -1)
        xy = xy.reshape(-1, 2)[:boxes].float() * step
        b = torch.cat([xy + 2, xy + step - 2], 1)
        s = t.float().mean() / 255 * torch.ones(len(b))
        out.append(dict(bboxes=b, scores=s, labels=torch.arange(len(b)) % 3))
    return out

predict(torch.zeros(2, 3, tile, tile, dtype=torch.uint8))
# warm-up: the merge imports mmcv's and mmdet's ops on first use
from mmskysense.apis.detection_merge import merge_detections
merge_detections(torch.tensor([[0., 0., 9., 9.], [1., 1., 9., 9.]]), torch.ones(2),
                 torch.zeros(2, dtype=torch.long), 0.5, torch.tensor([True, False]))
import gc; gc.collect()
rss_before = int(open('/proc/self/statm').read().split()[1]) * 4096
t0 = time.perf_counter()
dets = detect_geotiff(predict, path, out, ['a', 'b', 'c'], tile=tile, overlap=tile // 4,
                      batch_size=4, progress=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(dict(side=side, before_mb=rss_before / 2**20, peak_mb=peak / 2**20,
                      added_mb=(peak - rss_before) / 2**20, detections=len(dets),
                      patches=dets.stats['patches'], seconds=time.perf_counter() - t0)))
"""


def write_scene(path: str, side: int) -> None:
    """A random RGB scene, written here by strips (not in the measured process)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    with rasterio.open(
        path,
        'w',
        driver='GTiff',
        height=side,
        width=side,
        count=3,
        dtype='uint8',
        crs='EPSG:32633',
        transform=from_origin(5e5, 4.1e6, 0.3, 0.3),
        tiled=True,
        blockxsize=256,
        blockysize=256,
    ) as dst:
        rng = np.random.default_rng(0)
        for y in range(0, side, 256):
            h = min(256, side - y)
            dst.write(
                rng.integers(1, 255, (3, h, side), dtype=np.uint8), window=Window(0, y, side, h)
            )


def run(side: int, tile: int, boxes: int, workdir: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '2'))
    write_scene(os.path.join(workdir, f's{side}.tif'), side)
    proc = subprocess.run(
        [
            sys.executable,
            '-c',
            CHILD,
            str(side),
            str(tile),
            str(boxes),
            os.path.join(workdir, f's{side}.tif'),
            os.path.join(workdir, f'd{side}.geojson'),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--side', type=int, default=1024)
    parser.add_argument('--tile', type=int, default=256)
    parser.add_argument('--boxes', type=int, default=20, help='boxes per patch')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = run(args.side, args.tile, args.boxes, tmp)
        large = run(4 * args.side, args.tile, args.boxes, tmp)
    for r in (small, large):
        print(
            f'scene {r["side"]} px: {r["patches"]} patches, {r["detections"]} detections, '
            f'peak +{r["added_mb"]:.1f} MiB over {r["before_mb"]:.0f} MiB, {r["seconds"]:.1f} s'
        )
    ratio = large['added_mb'] / max(small['added_mb'], 1e-3)
    print(f'scene area x16 -> added peak memory x{ratio:.2f}')


if __name__ == '__main__':
    main()
