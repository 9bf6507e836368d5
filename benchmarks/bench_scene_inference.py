"""Scene inference on the CPU: pixels per second, the share of the measured matmul rate, and the
scene loop's own time apart from the model's, before and after, in one run.

    python benchmarks/bench_scene_inference.py                      # the default sweep
    python benchmarks/bench_scene_inference.py --models base --tiles 512 --threads 2 --batches 1 2

Prints ``RESULT`` lines:

1. ``matmul``: the measured ceiling, a 1024^3 float32 product (the faster of torch.mm and
   oneDNN, ``bench_pretrain_step.cpu_gemm``), per thread count
   (``bench_pretrain_step.matmul_rate``).
2. ``model``: per segmentor (UperNet on the SkySense V2 backbone: ``tiny``, the demo config;
   ``base``, the Potsdam config at arch ``base``, random weights), tile, thread count and batch:
   the adapter's time per batch (the data preprocessor, the forward, the probabilities at tile
   size), pixels per second, the FLOPs per tile (``torch.utils.flop_counter``) and the share of
   the matmul rate they imply, for the old path (``no_grad``, NCHW) and the new one
   (``inference_mode``, ``--channels-last``), timed alternately; their ratio new/old.
3. ``bf16``: the new path under bf16 autocast against fp32 (time ratio); ``ort``: the same
   model exported to ONNX (``mmskysense.apis.export_model`` at the tile size) and run by
   ``OnnxRuntimeAdapter`` with as many intra-op threads, timed in the same turns (``ort/new``),
   its largest difference from PyTorch's probabilities and the agreement of their arg-max
   (``--no-onnx`` skips it; it needs the ``export`` extra).
4. ``scene``: a generated GeoTIFF scene through ``run_tiles`` into a ``BlendAccumulator``
   (the class map, ``segment_scene``'s sink): wall time, the model's time, the loop's own time
   (reading, blending, writing: wall minus the model's) and its share of the wall time (and of
   the CPU time), for the old loop (reads inline, ``prefetch=0``; the sink on the model's
   threads, ``sink_threads=None``) and the new one (read ahead by the reader thread, the sink
   on one thread); runs alternate. The bf16 map's pixel agreement with the fp32 map of the
   same scene.

The machine may be shared: every comparison is taken side by side (alternating runs) and given
as a ratio; ``uptime``'s load is printed before and after.
"""

import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

import torch

if __package__ in (None, ''):
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from bench_pretrain_step import _si, count_flops, cpu_gemm, matmul_rate  # noqa: E402

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
CONFIGS = dict(
    tiny=osp.join(REPO, 'configs/demo/upernet_skysense-v2-tiny_1xb4-300it_geo-demo-128x128.py'),
    base=osp.join(
        REPO, 'configs/skysense_v2_seg/upernet_skysense-v2-huge_4xb4-40k_potsdam-512x512.py'
    ),
)
ARCH_WIDTH = dict(tiny=32, base=128)  # embed_dims of the arch (SkySenseV2Backbone.arch_zoo)


def load() -> str:
    return open('/proc/loadavg').read().split()[0]


def build_segmentor(size: str) -> torch.nn.Module:
    """The segmentor of ``CONFIGS[size]`` at its arch, random weights, eval mode."""
    from mmengine.config import Config

    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(CONFIGS[size]).model
    c = ARCH_WIDTH[size]
    cfg.backbone.update(arch=size, init_cfg=None)
    cfg.decode_head.in_channels = [c * 2**i for i in range(4)]
    cfg.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    cfg.auxiliary_head = None  # not run at inference
    cfg.data_preprocessor.size = None
    torch.manual_seed(0)
    return MODELS.build(cfg).eval()


def adapters(size: str, channels_last: bool) -> dict:
    """The old path (NCHW, fp32) and the new one (``channels_last``), fp32 and bf16: the
    engine's ``SegmentorAdapter`` with its options, each on its own copy of the model (the
    memory format is the parameters')."""
    import copy

    from mmskysense.apis.scene.adapters import SegmentorAdapter

    model = build_segmentor(size)
    new = SegmentorAdapter(copy.deepcopy(model), channels_last=channels_last)
    return dict(
        old=SegmentorAdapter(model),
        new=new,
        bf16=SegmentorAdapter(new.model, precision='bf16', channels_last=channels_last),
    )


def onnx_paths(size: str, model: torch.nn.Module, tile: int, threads: list[int], tmp: str):
    """``{threads: OnnxRuntimeAdapter}`` of ``model`` exported at ``tile`` (one export, one
    session per thread count: ONNX Runtime fixes its threads when the session starts); None
    when onnxruntime is not installed."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print('onnxruntime is not installed (pip install -e .[export]): no ort path', flush=True)
        return None
    from mmengine.config import Config

    from mmskysense.apis.export import export_model
    from mmskysense.apis.scene.contract import contract_from_config
    from mmskysense.apis.scene.onnx_adapter import OnnxRuntimeAdapter

    contract = contract_from_config(Config.fromfile(CONFIGS[size]))
    path = osp.join(tmp, f'{size}_{tile}.onnx')
    t0 = time.perf_counter()
    export_model(model, path, contract=contract, tile=tile)
    print(f'exported {size} at tile {tile} in {time.perf_counter() - t0:.0f} s', flush=True)
    return {n: OnnxRuntimeAdapter(path, threads=n) for n in threads}


def tiles_of(batch: int, tile: int, seed: int) -> torch.Tensor:
    """Random uint8 RGB tiles, smooth enough to look like a scene (blocks of 8 px)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (batch, 3, tile // 8, tile // 8), generator=g, dtype=torch.uint8)
    return x.repeat_interleave(8, 2).repeat_interleave(8, 3)


def alternate(fns: dict, repeat: int, warmup: int = 1, cpu: dict | None = None) -> dict:
    """Median seconds of each function, the functions run in turn (a shared machine's load
    falls on all of them alike); ``cpu`` receives the median CPU seconds of the process (all
    its threads), which a busy machine inflates far less than the wall time."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    times = {k: [] for k in fns}
    cpu_times = {k: [] for k in fns}
    for i in range(repeat):
        order = list(fns) if i % 2 == 0 else list(fns)[::-1]
        for k in order:
            c0, t0 = time.process_time(), time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
            cpu_times[k].append(time.process_time() - c0)
    if cpu is not None:
        cpu.update({k: statistics.median(v) for k, v in cpu_times.items()})
    return {k: statistics.median(v) for k, v in times.items()}


# ------------------------------------------------------------------------------ the model
def bench_models(args) -> list[str]:
    """Per segmentor and tile: FLOPs per tile, then per thread count and batch the adapters'
    times, alternated with the matmul ceiling (timed in the same turns)."""
    product, product_name = cpu_gemm(1024)  # the faster of torch.mm and oneDNN here
    print(f'ceiling: the 1024^3 float32 product by {product_name}', flush=True)
    reps = 4  # 8.6 GFLOP a turn: long enough for the clock, short beside a tile

    def matmul():
        for _ in range(reps):
            product()

    matmul_flop = reps * 2 * 1024**3
    lines = []
    for size in args.models:
        paths = adapters(size, not args.nchw)
        for tile in args.tiles:
            flop = count_flops(lambda: paths['new'].predict_tensor(tiles_of(1, tile, 0)))
            with tempfile.TemporaryDirectory() as tmp:
                ort = (
                    None
                    if args.no_onnx
                    else onnx_paths(size, paths['old'].model, tile, args.threads, tmp)
                )
                lines += bench_model_tile(args, size, tile, flop, paths, ort, matmul, matmul_flop)
    return lines


def bench_model_tile(args, size, tile, flop, paths, ort, matmul, matmul_flop) -> list[str]:
    """One segmentor at one tile: per thread count and batch, every path and the ceiling in
    turns."""
    lines = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        lines.append(
            f'RESULT matmul threads={threads}: '
            f'{_si(matmul_rate(torch.device("cpu"), torch.float32))}FLOP/s '
            f'(1024^3 float32, load {load()})'
        )
        for batch in batches_for(args, size, tile):
            x = tiles_of(batch, tile, batch)
            fns = {k: (lambda p=p: p.predict_tensor(x)) for k, p in paths.items()}
            if ort is not None:
                fns['ort'] = lambda s=ort[threads], a=x.numpy(): s.predict_array(a)
            fns['matmul'] = matmul
            cpu = {}
            t = alternate(fns, args.repeat, cpu=cpu)
            rate = matmul_flop / t['matmul']
            cpu_rate = matmul_flop / cpu['matmul']
            px = batch * tile * tile

            def fmt(k, t=t, cpu=cpu, rate=rate, cpu_rate=cpu_rate, px=px, batch=batch):
                share = 100 * flop * batch / t[k] / rate
                cpu_share = 100 * flop * batch / cpu[k] / cpu_rate
                return (
                    f'{k} {t[k]:.3f} s {px / t[k] / 1e6:.3f} Mpx/s {share:.1f} % '
                    f'(CPU time {cpu_share:.1f} %)'
                )

            ort_part = ''
            if ort is not None:
                ref = paths['new'].predict_tensor(x)
                got = torch.as_tensor(ort[threads].predict_array(x.numpy()))
                same = (got.argmax(1) == ref.argmax(1)).float().mean()
                ort_part = (
                    f' | {fmt("ort")}; ort/new = {t["ort"] / t["new"]:.3f} (max |diff| '
                    f'{float((got - ref).abs().max()):.1e}, arg-max agrees on '
                    f'{100 * float(same):.2f} % of pixels)'
                )
            lines.append(
                f'RESULT model {size} tile={tile} threads={threads} batch={batch}: '
                f'{_si(flop)}FLOP/tile, matmul {_si(rate)}FLOP/s; {fmt("old")} | '
                f'{fmt("new")} | {fmt("bf16")}; new/old = {t["new"] / t["old"]:.3f}, '
                f'bf16/new = {t["bf16"] / t["new"]:.3f}{ort_part} (load {load()})'
            )
            print(lines[-1], flush=True)
    return lines


def batches_for(args, size: str, tile: int) -> list[int]:
    if size == 'base' and tile >= 512:
        return [b for b in args.batches if b <= args.base512_max_batch]
    return args.batches


# ------------------------------------------------------------------------------ the scene
def geotiff_profile(side: int, count: int = 3, **extra) -> dict:
    """The rasterio profile of the benchmarks' scenes: ``side`` px square uint8, UTM 33N at
    0.3 m, tiled in 256 px blocks as a COG reader would find it (``extra``: nodata, compress)."""
    from rasterio.transform import from_origin

    return dict(
        driver='GTiff',
        height=side,
        width=side,
        count=count,
        dtype='uint8',
        crs='EPSG:32633',
        transform=from_origin(5e5, 4.1e6, 0.3, 0.3),
        tiled=True,
        blockxsize=256,
        blockysize=256,
        **extra,
    )


def write_scene(path: str, side: int) -> None:
    """An RGB GeoTIFF of ``side`` px: smooth random fields (blocks of 8 px) with a nodata
    corner, tiled as a COG reader would find it."""
    import rasterio

    x = tiles_of(1, side, 7)[0].numpy().copy()
    x[:, : side // 8, : side // 8] = 0
    with rasterio.open(path, 'w', **geotiff_profile(side, nodata=0, compress='deflate')) as dst:
        dst.write(x)


class Timed:
    """An adapter that adds up the time spent in it: wall, and the process's CPU time (every
    thread's, so a read-ahead thread's work meanwhile counts here too)."""

    def __init__(self, adapter):
        self.adapter, self.seconds, self.cpu = adapter, 0.0, 0.0

    def __call__(self, batch):
        c0, t0 = time.process_time(), time.perf_counter()
        out = self.adapter(batch)
        self.seconds += time.perf_counter() - t0
        self.cpu += time.process_time() - c0
        return out


def scene_run(
    scene_path: str,
    out: str,
    adapter,
    tile: int,
    overlap: int,
    batch: int,
    prefetch: int,
    new: bool = True,
) -> dict:
    """The class map of the scene through ``run_tiles``: wall time, model time, sink time;
    ``new``: the sink on one intra-op thread (``sink_threads=1``), else on the model's."""
    from mmskysense.apis.scene import (
        BlendAccumulator,
        ClassMapWriter,
        ModalityInput,
        SceneInputs,
        SceneSpec,
        run_tiles,
    )

    spec = SceneSpec([ModalityInput('img', bands=[1, 2, 3])])
    timed = Timed(adapter)
    read_cpu = []
    c0, t0 = time.process_time(), time.perf_counter()
    with SceneInputs.open(spec, {'img': [scene_path]}) as scene:
        read = scene.read

        def timed_read(tiles):  # the reading thread's own CPU time (GDAL decodes in it)
            r0 = time.thread_time()
            batch = read(tiles)
            read_cpu.append(time.thread_time() - r0)
            return batch

        scene.read = timed_read
        grid = scene.grid(tile, overlap)
        k = adapter.model.decode_head.num_classes
        writer = ClassMapWriter(out, scene.height, scene.width, scene.crs, scene.transform, k)
        sink = BlendAccumulator(grid, k, writer)
        _, stats = run_tiles(
            scene,
            grid,
            timed,
            sink,
            batch,
            False,
            gdal_cache_mb=64,
            prefetch=prefetch,
            sink_threads=1 if new else None,
        )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # the loop's CPU time: outside the model's calls, plus (read ahead) the reads, which may
    # have run during them: at most this
    loop_cpu = cpu - timed.cpu + (sum(read_cpu) if prefetch else 0.0)
    return dict(
        wall=wall,
        model=timed.seconds,
        loop=wall - timed.seconds,
        tiles=stats.computed,
        cpu=cpu,
        loop_cpu=min(loop_cpu, cpu),
    )


def agreement(a: str, b: str) -> float:
    import rasterio

    with rasterio.open(a) as fa, rasterio.open(b) as fb:
        x, y = fa.read(1), fb.read(1)
    defined = (x != 255) | (y != 255)
    return float((x == y)[defined].mean())


def bench_scene(args, tmp: str) -> list[str]:
    lines = []
    torch.set_num_threads(max(args.threads))
    for size in args.scene_models:
        paths = adapters(size, not args.nchw)
        tile = args.scene_tile
        side = args.scene_side.get(size, 3 * tile)
        scene_path = osp.join(tmp, f'scene_{side}.tif')
        if not osp.exists(scene_path):
            write_scene(scene_path, side)
        runs = dict(
            old=(paths['old'], 0, False),
            new=(paths['new'], args.prefetch, True),
            bf16=(paths['bf16'], args.prefetch, True),
        )
        res = {k: [] for k in runs}
        for i in range(args.scene_repeat):
            for k in list(runs) if i % 2 == 0 else list(runs)[::-1]:
                adapter, prefetch, new = runs[k]
                out = osp.join(tmp, f'{size}_{k}.tif')
                res[k].append(
                    scene_run(
                        scene_path,
                        out,
                        adapter,
                        tile,
                        args.scene_overlap,
                        args.scene_batch,
                        prefetch,
                        new,
                    )
                )
        med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in res.items()}
        px = side * side

        def fmt(k, med=med, px=px):
            r = med[k]
            return (
                f'{k} wall {r["wall"]:.2f} s ({px / r["wall"] / 1e6:.3f} Mpx/s), model '
                f'{r["model"]:.2f} s, loop {r["loop"]:.2f} s = {100 * r["loop"] / r["wall"]:.1f} % '
                f'(CPU time: loop {100 * r["loop_cpu"] / r["cpu"]:.1f} % of {r["cpu"]:.1f} s)'
            )

        lines.append(
            f'RESULT scene {size} {side}x{side} px tile={tile} overlap={args.scene_overlap} '
            f'batch={args.scene_batch} threads={max(args.threads)} '
            f'tiles={med["new"]["tiles"]:.0f}: {fmt("old")} | {fmt("new")} | {fmt("bf16")}; '
            f'wall new/old = {med["new"]["wall"] / med["old"]["wall"]:.3f}, loop new/old = '
            f'{med["new"]["loop"] / med["old"]["loop"]:.3f} (prefetch 0 -> {args.prefetch}, sink '
            f'threads {max(args.threads)} -> 1, '
            f'load {load()})'
        )
        print(lines[-1], flush=True)
        new, old, bf16 = (osp.join(tmp, f'{size}_{k}.tif') for k in ('new', 'old', 'bf16'))
        lines.append(
            f'RESULT bf16_agreement {size}: the bf16 class map equals the fp32 one at '
            f'{100 * agreement(new, bf16):.2f} % of the defined pixels; channels-last fp32 vs '
            f'NCHW fp32: {100 * agreement(new, old):.2f} % (random weights: small class margins)'
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=['tiny', 'base'], choices=sorted(CONFIGS))
    parser.add_argument('--tiles', nargs='+', type=int, default=[256, 512])
    parser.add_argument('--threads', nargs='+', type=int, default=[1, 2])
    parser.add_argument('--batches', nargs='+', type=int, default=[1, 2, 4, 8])
    parser.add_argument(
        '--base512-max-batch',
        type=int,
        default=1,
        help='largest batch of base at tile >= 512 (580 GFLOP a tile: minutes a batch on 2 cores)',
    )
    parser.add_argument('--repeat', type=int, default=2, help='timed turns per measurement')
    parser.add_argument('--nchw', action='store_true', help='the new path without channels-last')
    parser.add_argument('--skip-models', action='store_true')
    parser.add_argument('--no-onnx', action='store_true', help='no ONNX Runtime path')
    parser.add_argument('--scene-models', nargs='*', default=['tiny'], choices=sorted(CONFIGS))
    parser.add_argument('--scene-tile', type=int, default=512)
    parser.add_argument('--scene-overlap', type=int, default=128)
    parser.add_argument('--scene-batch', type=int, default=4)
    parser.add_argument('--scene-repeat', type=int, default=2)
    parser.add_argument('--prefetch', type=int, default=2)
    args = parser.parse_args()
    args.scene_side = dict(tiny=1664, base=896)  # 4 x 4 and 2 x 2 tiles of 512, overlap 128
    print(f'torch {torch.__version__}, {os.cpu_count()} CPUs, load {load()}', flush=True)
    lines = []
    if not args.skip_models:
        lines += bench_models(args)
    with tempfile.TemporaryDirectory() as tmp:
        lines += bench_scene(args, tmp)
    print(f'load at the end {load()}')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
