"""The SkySense V2 pretraining step at the paper's scale, on one GPU (H100 / H200), in one run.

    python benchmarks/bench_pretrain_step.py                  # CUDA: --preset paper; CPU: tiny
    python benchmarks/bench_pretrain_step.py --preset paper --steps 6 --warmup 2

Prints one ``RESULT`` line per measurement, last:

1. ``pretrain_step``: the full step of the huge recipe (student and EMA teacher, every
   objective, backward, clipped AdamW, EMA update) on the paper's crops (2 global views of HR
   224 / S2, S1 28 px and 6 local views of 96 / 12 px, 10 S2 and 5 S1 dates) at per-GPU batch 8,
   bf16 autocast (``AutocastOptimWrapper``, as the DDP recipe), activation checkpointing per block:
   median time per step (CUDA events), peak allocated memory, and FLOPs counted with
   ``torch.utils.flop_counter`` (the grouped matrix product of the MoE included) on one sample
   times the batch: model FLOPs (no recomputation) for the MFU, and hardware FLOPs (with the
   checkpointing's recomputation). MFU is given against the datasheet's dense bf16 rate of the
   chip and against a bf16 matrix product measured in the same run;
2. ``host_syncs``: the synchronising CUDA calls of one step (``torch.cuda.set_sync_debug_mode``);
3. ``window_attention``: our Swin V2 window attention (stage 1 of huge: C 352, 11 heads, window
   8, shifted, 16 maps of 56 x 56) against a plain matmul-softmax reference of the same maths
   written here, forward + backward, time ratio and output agreement;
4. ``moe``: the MoE FFN (8 experts, top-1, grouped product) against a dense FFN of one expert's
   size on the same tokens (C 1408, hidden 5632), forward + backward, time ratio; and the loop
   dispatch against the grouped one.

``--baseline-rev REV`` (a commit of this repository, e.g. ``main``) times the step of that
revision side by side with the working tree's: ``git archive`` writes the revision into a
temporary folder, each tree runs its step in its own process (its own ``mmskysense`` and
recipe, the optimiser its recipe builds), and one step of each is timed per round, in an order
that swaps every round, with the same preset, batch and threads. Two more lines then follow the
first: ``pretrain_step_baseline rev=...`` (the same fields, for the revision) and
``pretrain_step_vs_baseline`` (the median of the rounds' time ratios, and each tree's share of
the measured matmul rate):

    python benchmarks/bench_pretrain_step.py --baseline-rev main --threads 1 --skip-micro

On a CPU the default is ``--preset tiny`` (the tiny recipe's model, views and sizes): it shows the
script works; its figures say nothing about a GPU. Sized to finish in well under 8 minutes on an
H200 (building the 4 B parameters on the host takes most of the first minute).
"""

import argparse
import contextlib
import io
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings

import torch
import torch.nn.functional as F

if __package__ in (None, ''):
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
RECIPES = dict(
    paper=osp.join(REPO, 'configs/skysense_v2/skysense-v2_huge_128xb8-bf16-600k_geotiff.py'),
    tiny=osp.join(REPO, 'configs/skysense_v2/skysense-v2_tiny_1xb2-cpu-300it_geo-demo.py'),
)
# views, crops (HR, MS px), dates, batch; attention and MoE sizes (stage 1 / the MoE blocks)
PRESETS = dict(
    paper=dict(
        views=(2, 6),
        hr=(224, 96),
        ms=(28, 12),
        dates=dict(s2=10, s1=5),
        batch=8,
        attn=dict(dims=352, heads=11, window=8, side=56, maps=16),
        moe=dict(dims=1408, hidden=5632, experts=8, tokens=16384),
    ),
    tiny=dict(
        views=(2, 2),
        hr=(64, 32),
        ms=(8, 4),
        dates=dict(s2=3, s1=2),
        batch=2,
        attn=dict(dims=32, heads=2, window=4, side=16, maps=4),
        moe=dict(dims=256, hidden=1024, experts=4, tokens=2048),
    ),
)
# dense bf16 tensor-core rates of the datasheets, TFLOP/s
DATASHEET_BF16 = {'H100': 989.4, 'H200': 989.4, 'A100': 312.0}
BANDS = dict(hr=3, s2=10, s1=2)


# ----------------------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def median_seconds(fn, repeat: int, warmup: int, device: torch.device) -> float:
    """Median wall time of ``fn`` (CUDA events on a GPU, after a synchronised warm-up)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        if device.type == 'cuda':
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_ratio(fa, fb, repeat: int, warmup: int, device: torch.device):
    """Medians of ``fa`` and ``fb`` timed alternately, and the median ratio of adjacent runs."""
    ta, tb = [], []
    for _ in range(warmup):
        fa()
        fb()
    for i in range(repeat):
        order = ((fa, ta), (fb, tb)) if i % 2 == 0 else ((fb, tb), (fa, ta))
        for f, acc in order:
            acc.append(median_seconds(f, 1, 0, device))
    ratio = statistics.median(a / b for a, b in zip(ta, tb))
    return statistics.median(ta), statistics.median(tb), ratio


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# --------------------------------------------------------------------------- FLOPs
def register_grouped_mm_flops() -> None:
    """``torch.utils.flop_counter`` has no formula for the grouped product: 2 x the products."""
    from torch.utils.flop_counter import flop_registry, register_flop_formula

    op = torch.ops.aten._grouped_mm
    if op in flop_registry or op.default in flop_registry:
        return

    @register_flop_formula(op)
    def grouped_mm_flop(a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
        if len(a_shape) == 2 and len(b_shape) == 3:  # (T, K) x (G, K, N), jagged T
            return 2 * a_shape[0] * a_shape[1] * b_shape[2]
        if len(a_shape) == 2 and len(b_shape) == 2:  # (M, T) x (T, N), jagged T (weight grad)
            return 2 * a_shape[0] * a_shape[1] * b_shape[1]
        if len(a_shape) == 3 and len(b_shape) == 3:  # (G, M, K) x (G, K, N)
            return 2 * a_shape[0] * a_shape[1] * a_shape[2] * b_shape[2]
        return 2 * a_shape[-2] * a_shape[-1] * b_shape[-1]  # (G, M, K) x (K, T), jagged T


def register_cpu_sdpa_flops() -> None:
    """``FlopCounterMode`` counts CUDA's attention kernels only: the CPU flash kernel (the fake
    run's stand-in for them) counted with torch's own SDPA formulas."""
    import torch
    from torch.utils.flop_counter import (
        flop_registry,
        register_flop_formula,
        sdpa_backward_flop_count,
        sdpa_flop_count,
    )

    fwd = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    bwd = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward
    if fwd in flop_registry or fwd.default in flop_registry:
        return

    @register_flop_formula(fwd)
    def sdpa_cpu(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
        return sdpa_flop_count(q_shape, k_shape, v_shape)

    @register_flop_formula(bwd)
    def sdpa_cpu_backward(g_shape, q_shape, k_shape, v_shape, *args, out_shape=None, **kw) -> int:
        return sdpa_backward_flop_count(g_shape, q_shape, k_shape, v_shape)


def _si(x: float) -> str:
    for unit, scale in (('P', 1e15), ('T', 1e12), ('G', 1e9), ('M', 1e6)):
        if abs(x) >= scale:
            return f'{x / scale:.2f} {unit}'
    return f'{x:.0f} '


def count_flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def cpu_gemm(n: int = 1024):
    """The fastest float32 ``n^3`` product this CPU runs of the two the model uses: torch's
    ``a @ b`` (MKL or OpenBLAS) and, on x86, oneDNN's (``mmskysense.models.layers.onednn_linear``,
    which the model's linear layers take there). Returns ``(fn, name)``; ``fn()`` runs one product.
    The ceiling must be the faster one: a share of the slower would read over 100 %."""
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    fns = {'torch.mm': lambda: a @ b}
    try:
        from mmskysense.models.layers.onednn_linear import _ONEDNN, onednn_linear

        if _ONEDNN:
            bt = b.t().contiguous()
            fns['onednn'] = lambda: onednn_linear(a, bt)
    except ImportError:  # a baseline revision without it
        pass
    best = min(fns, key=lambda k: median_seconds(fns[k], 7, 2, torch.device('cpu')))
    return fns[best], best


def matmul_rate(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of a large matrix product on random data (the measured ceiling): on a GPU an
    8192^3 product in ``dtype``, on a CPU the faster 1024^3 float32 product (:func:`cpu_gemm`)."""
    if device.type != 'cuda':
        fn, _ = cpu_gemm(1024)
        return 2 * 1024**3 / median_seconds(fn, 10, 3, device)
    n = 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    t = median_seconds(lambda: a @ b, 10, 3, device)
    return 2 * n**3 / t


# --------------------------------------------------------------------- model, batch
def write_text_embeddings(tmp: str) -> str:
    """Random ITA text embeddings of 16 classes (the recipe's file is not in the repository)."""
    text = osp.join(tmp, 'text.pth')
    torch.save(dict(class_names=[str(i) for i in range(16)], embeddings=torch.randn(16, 512)), text)
    return text


def build_model(preset: str, device: torch.device, tmp: str, text: str | None = None):
    """The recipe's pretraining model, initialised; ``text``: the ITA embeddings file (written
    into ``tmp`` when None; under FakeTensorMode write it before entering the mode)."""
    from mmengine.config import Config
    from mmengine.logging import MMLogger

    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    MMLogger.get_instance('bench_pretrain_step', log_level='WARNING')  # init_weights is verbose
    cfg = Config.fromfile(RECIPES[preset])
    cfg.model.ita_head.loss.text_embeddings = text or write_text_embeddings(tmp)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.to(device).train(), cfg


def make_batch(preset: dict, batch: int, device: torch.device, num_regions: int):
    """A PretrainBatch of random views (valid everywhere but a nodata corner), boxes of local
    views inside the global ones' ground, random flips and quarter turns, OSM labels."""
    from mmskysense.structures import PretrainBatch, ViewGroup

    g = torch.Generator().manual_seed(0)
    groups = {}
    for i, name in enumerate(('global_views', 'local_views')):
        v, hr, ms = preset['views'][i], preset['hr'][i], preset['ms'][i]
        images, valid = {}, {}
        images['hr'] = torch.randn(batch, v, 3, hr, hr, generator=g)
        valid['hr'] = torch.ones(batch, v, hr, hr, dtype=torch.bool)
        valid['hr'][:, :, : hr // 8, : hr // 8] = False
        for m, t in preset['dates'].items():
            images[m] = torch.randn(batch, v, t, BANDS[m], ms, ms, generator=g)
            valid[m] = torch.ones(batch, v, t, ms, ms, dtype=torch.bool)
        span = 640.0 if i == 0 else 260.0
        lo = torch.rand(batch, v, 2, generator=g) * (1000.0 - span)
        ops = torch.stack(
            [
                torch.randint(0, 2, (batch, v), generator=g),
                torch.randint(0, 2, (batch, v), generator=g),
                torch.randint(0, 4, (batch, v), generator=g),
            ],
            -1,
        )
        labels = torch.randint(0, 16, (batch, v, hr, hr), generator=g)
        labels[..., hr // 2 :, :] = 255
        groups[name] = ViewGroup(
            images=images,
            valid_masks=valid,
            view_boxes=torch.cat([lo, lo + span], -1).double(),
            view_geo_ops=ops,
            osm_label=labels,
        )
    dates = {m: torch.ones(batch, t, dtype=torch.bool) for m, t in preset['dates'].items()}
    doy = {m: torch.randint(1, 366, (batch, t), generator=g) for m, t in preset['dates'].items()}
    return PretrainBatch(
        global_views=groups['global_views'],
        local_views=groups['local_views'],
        date_masks=dates,
        doy=doy,
        region_id=torch.randint(0, num_regions, (batch,), generator=g),
    ).to(device)


def slice_batch(batch, n: int):
    def cut(x):
        return x[:n] if isinstance(x, torch.Tensor) else x

    return batch.apply(cut) if n < batch.batch_size else batch


# ---------------------------------------------------------------------------- benches
def build_optimizer(cfg, params: list, device: torch.device) -> torch.optim.Optimizer:
    """The recipe's optimiser (its type and settings: betas, weight decay, ``fused`` or
    ``foreach``) at lr 1e-6; on a GPU the fused kernel unless the recipe asks for foreach.
    Built from the recipe of the tree being timed, so that a baseline revision is timed with
    the optimiser its recipe built."""
    opt_cfg = dict(cfg.optim_wrapper.optimizer)
    kind = opt_cfg.pop('type', 'AdamW')
    opt_cfg['lr'] = 1e-6
    if device.type == 'cuda' and not opt_cfg.get('foreach'):
        opt_cfg['fused'] = True
    return getattr(torch.optim, kind)(params, **opt_cfg)


class StepRunner:
    """The recipe's model and optimiser on a batch of the preset, and its full step: student
    and EMA teacher, every objective, backward, clipped AdamW, EMA update."""

    def __init__(self, args, preset: dict, device: torch.device, dtype, tmp: str) -> None:
        from mmengine.optim import OptimWrapper

        from mmskysense.engine.optimizers import AutocastOptimWrapper

        t0 = time.perf_counter()
        model, cfg = build_model(args.preset, device, tmp)
        self.build_s = time.perf_counter() - t0
        self.model, self.device, self.dtype = model, device, dtype
        self.n_student = sum(
            p.numel() for n, p in model.named_parameters() if not n.startswith('teacher.')
        )
        self.n_teacher = sum(p.numel() for p in model.teacher.parameters())
        num_regions = cfg.model.gcpl_head.loss.num_regions
        self.batch = make_batch(preset, args.batch or preset['batch'], device, num_regions)
        student = [p for p in model.parameters() if p.requires_grad]
        clip = dict(cfg.optim_wrapper.get('clip_grad') or dict(max_norm=3.0))
        self.wrapper = AutocastOptimWrapper(
            dtype=dtype, optimizer=build_optimizer(cfg, student, device), clip_grad=clip
        )
        assert isinstance(self.wrapper, OptimWrapper)
        self.with_cp = bool(cfg.model.backbone.get('with_cp', False))
        if args.no_cp:
            self.set_cp(False)
            self.with_cp = False

    def set_cp(self, enable: bool) -> None:
        for net in (self.model.backbone, self.model.teacher['backbone']):
            net.set_grad_checkpointing(enable)

    def step(self, b=None) -> torch.Tensor:
        model, wrapper = self.model, self.wrapper
        with wrapper.optim_context(model):
            losses = model.loss(self.batch if b is None else b)
        total, _ = model.parse_losses(losses)
        wrapper.update_params(total)
        model.update_teacher(0.996)
        return total

    def warm(self, steps: int) -> None:
        loss = None
        for _ in range(steps):
            loss = self.step()
        if loss is not None and not math.isfinite(float(loss.detach())):
            raise RuntimeError(f'bench_pretrain_step: the loss is {float(loss.detach())}')
        if self.device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(self.device)

    def time_step(self) -> float:
        return median_seconds(self.step, 1, 0, self.device)

    def peak_gib(self) -> float:
        if self.device.type != 'cuda':
            return float('nan')
        return torch.cuda.max_memory_allocated(self.device) / 2**30

    def flops(self) -> tuple[int, int]:
        """Model FLOPs (no recomputation) and hardware FLOPs (with the checkpointing's) of one
        step: counted on one sample, times the batch."""
        one = slice_batch(self.batch, 1)
        n = self.batch.batch_size
        if self.device.type == 'cpu':
            # FLOPs do not depend on the dtype; torch's CPU fast path of
            # nn.TransformerEncoderLayer (taken by the teacher in eval mode) mixes dtypes under
            # CPU autocast and the counter
            self.wrapper.cast_dtype = None
        hw = count_flops(lambda: self.step(one)) * n
        if self.with_cp:
            self.set_cp(False)
            mf = count_flops(lambda: self.step(one)) * n
            self.set_cp(True)
        else:
            mf = hw
        self.wrapper.cast_dtype = self.dtype
        return mf, hw

    def host_syncs(self) -> str:
        if self.device.type != 'cuda':
            return 'n/a on CPU (tests/test_selfsup/test_selfsup_host_reads.py counts host reads)'
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            torch.cuda.set_sync_debug_mode('warn')
            self.step()
            torch.cuda.set_sync_debug_mode(0)
        return str(sum('synchroniz' in str(w.message) for w in caught))

    def info(self) -> dict:
        return dict(
            n_student=self.n_student,
            n_teacher=self.n_teacher,
            batch=self.batch.batch_size,
            with_cp=self.with_cp,
            build_s=self.build_s,
            device=(
                torch.cuda.get_device_name(self.device) if self.device.type == 'cuda' else 'CPU'
            ),
        )


def step_line(name: str, args, preset: dict, info: dict, step_s, peak, mf, hw, ceiling) -> str:
    """One ``RESULT`` line of a timed step (the format other tools parse)."""
    sheet = next((v for k, v in DATASHEET_BF16.items() if k in info['device']), None)
    rate = mf / step_s
    mfu = ''
    if sheet:
        mfu = f'MFU {100 * rate / (sheet * 1e12):.1f} % of {sheet:.0f} TFLOP/s (datasheet), '
    views = preset['views']
    return (
        f'RESULT {name} preset={args.preset} device={info["device"]} '
        f'student={info["n_student"] / 1e9:.2f}B teacher={info["n_teacher"] / 1e9:.2f}B '
        f'batch={info["batch"]} views={views[0]}+{views[1]} '
        f'hr={preset["hr"][0]}/{preset["hr"][1]} ms={preset["ms"][0]}/{preset["ms"][1]} '
        f'dates={preset["dates"]["s2"]}/{preset["dates"]["s1"]} dtype={args.dtype} '
        f'cp={info["with_cp"]}: {step_s:.3f} s/step, peak {peak:.1f} GiB, model {_si(mf)}FLOP/step '
        f'({_si(rate)}FLOP/s), hardware {_si(hw)}FLOP/step, {mfu}'
        f'{100 * rate / ceiling:.1f} % of the measured matmul {_si(ceiling)}FLOP/s '
        f'(model built in {info["build_s"]:.0f} s)'
    )


def bench_step(args, preset, device, dtype, tmp) -> list[str]:
    runner = StepRunner(args, preset, device, dtype, tmp)
    runner.warm(args.warmup)
    step_s = median_seconds(runner.step, args.steps, 0, device)
    peak = runner.peak_gib()
    mf, hw = runner.flops()
    syncs = runner.host_syncs()
    ceiling = matmul_rate(device, dtype or torch.float32)
    return [
        step_line('pretrain_step', args, preset, runner.info(), step_s, peak, mf, hw, ceiling),
        f'RESULT host_syncs one step: {syncs}',
    ]


# ------------------------------------------------------- a baseline revision, side by side
PROTOCOL = '@@bench@@ '  # a worker's replies (anything else it prints is passed through)


def worker_main(args, preset, device, dtype) -> None:
    """Serve the step of the tree at ``args.worker`` on stdin / stdout: ``step`` (time one),
    ``stats`` (peak memory, FLOPs, host syncs), ``quit``."""

    def reply(**kw) -> None:
        print(PROTOCOL + json.dumps(kw), flush=True)

    import mmskysense

    source = osp.dirname(osp.dirname(osp.abspath(mmskysense.__file__)))
    if source != osp.abspath(args.worker):
        raise RuntimeError(
            f'bench_pretrain_step worker: mmskysense was imported from {source}, not from the '
            f'tree to time, {args.worker}'
        )
    with tempfile.TemporaryDirectory() as tmp:
        runner = StepRunner(args, preset, device, dtype, tmp)
        runner.warm(args.warmup)
        reply(ready=True, **runner.info())
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == 'step':
                reply(seconds=runner.time_step())
            elif cmd == 'stats':
                peak = runner.peak_gib()
                mf, hw = runner.flops()
                reply(peak=peak, model=mf, hardware=hw, syncs=runner.host_syncs())
            elif cmd == 'quit':
                break
            else:
                raise ValueError(f'bench_pretrain_step worker: unknown command {cmd!r}')


class Worker:
    """A subprocess running this script's step on the source tree at ``root``."""

    def __init__(self, root: str, argv: list[str]) -> None:
        env = dict(os.environ, PYTHONPATH=root)
        self.proc = subprocess.Popen(
            [sys.executable, osp.abspath(__file__), *argv, '--worker', root],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.root = root

    def ask(self, cmd: str | None) -> dict:
        if cmd is not None:
            self.proc.stdin.write(cmd + '\n')
            self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(PROTOCOL):
                return json.loads(line[len(PROTOCOL) :])
            print(line, end='', file=sys.stderr)
        raise RuntimeError(
            f'bench_pretrain_step: the worker on {self.root} exited with {self.proc.wait()} '
            f'before answering {cmd!r}'
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write('quit\n')
            self.proc.stdin.close()
        self.proc.wait()


def export_revision(rev: str, dest: str) -> str:
    """Write the tree of ``rev`` (a commit of this repository) into ``dest``; its full hash."""
    try:
        full = subprocess.run(
            ['git', '-C', REPO, 'rev-parse', '--verify', f'{rev}^{{commit}}'],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except subprocess.CalledProcessError as e:
        raise SystemExit(
            f'bench_pretrain_step: --baseline-rev {rev!r} is not a commit of {REPO}: '
            f'{e.stderr.strip()}'
        ) from e
    archive = subprocess.run(
        ['git', '-C', REPO, 'archive', '--format=tar', full], check=True, capture_output=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter='data')
    return full


def worker_argv(args) -> list[str]:
    argv = ['--preset', args.preset, '--device', args.device, '--dtype', args.dtype]
    argv += ['--batch', str(args.batch), '--warmup', str(args.warmup)]
    argv += ['--threads', str(args.threads)]
    return argv + (['--no-cp'] if args.no_cp else [])


def bench_against_baseline(args, preset, device, dtype, tmp) -> list[str]:
    """The step of this working tree and of ``args.baseline_rev``, each in its own process,
    timed alternately (one step of each per round, the order swapped every round): the ratio
    is the median of the rounds' ratios, so a load that changes over the run hits both."""
    base_root = osp.join(tmp, 'baseline')
    rev = export_revision(args.baseline_rev, base_root)
    argv = worker_argv(args)
    workers = {}
    try:
        # built one after the other: the first does not build while the second is timed
        workers['current'] = Worker(REPO, argv)
        info = {'current': workers['current'].ask(None)}
        workers['baseline'] = Worker(base_root, argv)
        info['baseline'] = workers['baseline'].ask(None)
        times = {k: [] for k in workers}
        ceilings = []
        for i in range(args.steps):
            order = ('current', 'baseline') if i % 2 == 0 else ('baseline', 'current')
            for k in order:
                times[k].append(workers[k].ask('step')['seconds'])
            ceilings.append(matmul_rate(device, dtype or torch.float32))
        stats = {k: w.ask('stats') for k, w in workers.items()}
    finally:
        for w in workers.values():
            w.close()
    ceiling = statistics.median(ceilings)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = statistics.median(c / b for c, b in zip(times['current'], times['baseline']))
    share = {k: 100 * stats[k]['model'] / med[k] / ceiling for k in workers}
    lines = []
    for k, name in (
        ('current', 'pretrain_step'),
        ('baseline', f'pretrain_step_baseline rev={rev[:12]}'),
    ):
        s = stats[k]
        lines.append(
            step_line(
                name, args, preset, info[k], med[k], s['peak'], s['model'], s['hardware'], ceiling
            )
        )
    same = (
        abs(stats['current']['model'] - stats['baseline']['model'])
        <= 0.01 * stats['baseline']['model']
    )
    threads = args.threads or torch.get_num_threads()
    lines.append(
        f'RESULT pretrain_step_vs_baseline preset={args.preset} threads={threads} '
        f'baseline={rev}: current/baseline time = {ratio:.3f} (median of {args.steps} interleaved '
        f'rounds; current {med["current"]:.3f} s, baseline {med["baseline"]:.3f} s); share of the '
        f'measured matmul rate: current {share["current"]:.1f} %, baseline '
        f'{share["baseline"]:.1f} % ({share["current"] / share["baseline"]:.2f}x); model FLOP/step '
        f'current {_si(stats["current"]["model"])}, baseline {_si(stats["baseline"]["model"])}'
        + ('' if same else ' (THE FLOP COUNTS DIFFER: the two trees do not compute the same step)')
    )
    lines.append(f'RESULT host_syncs one step: {stats["current"]["syncs"]}')
    return lines


def reference_window_attention(attn, x, mask, window):
    """Swin V2 window attention written plainly (matmul, softmax), from the module's weights:
    cosine similarity over a learned per-head temperature, the continuous position bias, the
    shift mask. Independent of the module's forward."""
    b, nw, n, c = x.shape
    h = attn.num_heads
    bias = torch.cat([attn.q_bias, torch.zeros_like(attn.v_bias), attn.v_bias])
    q, k, v = F.linear(x, attn.qkv.weight, bias).reshape(b, nw, n, 3, h, c // h).unbind(3)
    q, k, v = (t.transpose(2, 3) for t in (q, k, v))  # b, nw, h, n, d
    scale = attn.logit_scale.clamp(max=math.log(100.0)).exp()
    logits = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1) * scale
    r = torch.arange(window, device=x.device)
    yy, xx = torch.meshgrid(r, r, indexing='ij')
    coords = torch.stack([yy.flatten(), xx.flatten()])
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).float()
    rel = rel / (attn.norm_size - 1) * 8
    rel = torch.sign(rel) * torch.log2(rel.abs() + 1.0) / math.log2(8)
    pos = 16 * torch.sigmoid(attn.cpb_mlp(rel.to(x.dtype))).permute(2, 0, 1)  # h, n, n
    logits = logits + pos + mask[:, None].to(logits.dtype)
    out = (logits.softmax(-1) @ v).transpose(2, 3).reshape(b, nw, n, c)
    return attn.proj(out)


def bench_attention(args, preset, device, dtype) -> str:
    from mmskysense.models.layers import SwinV2WindowAttention
    from mmskysense.models.layers.swin_v2_block import shifted_window_mask, window_partition

    p = preset['attn']
    torch.manual_seed(0)
    attn = SwinV2WindowAttention(p['dims'], p['heads'], p['window']).to(device)
    with torch.no_grad():
        attn.q_bias.normal_(0, 0.5)
        attn.v_bias.normal_(0, 0.5)
    side, ws = p['side'], p['window']
    grid = torch.randn(p['maps'], side, side, p['dims'], device=device)
    x = window_partition(grid, ws).requires_grad_(True)
    mask = shifted_window_mask(side, side, ws, ws // 2, device)

    def run(fn):
        def go():
            attn.zero_grad(set_to_none=True)
            x.grad = None
            with autocast(device, dtype):
                out = fn()
            out.float().square().mean().backward()

        return go

    with torch.no_grad(), autocast(device, dtype):
        ours = attn(x, ws, mask).float()
        ref = reference_window_attention(attn, x, mask, ws).float()
    err = ((ours - ref).norm() / ref.norm()).item()
    t_ours, t_ref, ratio = interleaved_ratio(
        run(lambda: attn(x, ws, mask)),
        run(lambda: reference_window_attention(attn, x, mask, ws)),
        args.repeat,
        args.warmup,
        device,
    )
    return (
        f'RESULT window_attention ours/reference = {ratio:.3f} (ours {t_ours * 1e3:.2f} ms, '
        f'matmul-softmax {t_ref * 1e3:.2f} ms, fwd+bwd, C={p["dims"]}, {p["heads"]} heads, '
        f'window {ws}, shifted, {p["maps"]} maps of {side}x{side}, dtype={args.dtype}; '
        f'rel. output difference {err:.1e})'
    )


def bench_moe(args, preset, device, dtype) -> str:
    from mmskysense.models.layers import FeedForward, MixtureOfExperts

    p = preset['moe']
    torch.manual_seed(0)
    grouped = MixtureOfExperts(p['dims'], p['hidden'], p['experts'], dispatch='auto').to(device)
    loop = MixtureOfExperts(p['dims'], p['hidden'], p['experts'], dispatch='loop').to(device)
    loop.load_state_dict(grouped.state_dict())
    dense = FeedForward(p['dims'], p['hidden']).to(device)
    with torch.no_grad():
        grouped.gate.weight.normal_(0, 0.5)  # spread the tokens over the experts
        loop.gate.weight.copy_(grouped.gate.weight)
    x = torch.randn(p['tokens'], p['dims'], device=device, requires_grad=True)

    def run(module, pick):
        def go():
            module.zero_grad(set_to_none=True)
            with autocast(device, dtype):
                out = pick(module(x))
            out.float().square().mean().backward()

        return go

    with autocast(device, dtype):
        used = grouped.use_grouped_mm(x)
    moe = run(grouped, lambda o: o[0] + 0 * o[1])
    t_moe, t_dense, ratio = interleaved_ratio(
        moe, run(dense, lambda o: o), args.repeat, args.warmup, device
    )
    _, t_loop, grouped_loop = interleaved_ratio(
        moe, run(loop, lambda o: o[0] + 0 * o[1]), args.repeat, args.warmup, device
    )
    counts = grouped(x)[2].tolist()
    return (
        f'RESULT moe moe/dense = {ratio:.3f} (MoE {t_moe * 1e3:.2f} ms with '
        f'{"the grouped product" if used else "the loop"}, dense FFN of one expert '
        f'{t_dense * 1e3:.2f} ms; {"grouped" if used else "auto (the loop)"}/loop = '
        f'{grouped_loop:.3f}, loop {t_loop * 1e3:.2f} ms; '
        f'{p["experts"]} experts top-1, C={p["dims"]}, hidden={p["hidden"]}, {p["tokens"]} tokens '
        f'{counts}, fwd+bwd, dtype={args.dtype})'
    )


def use_source_tree(root: str) -> None:
    """Import ``mmskysense`` and read the recipes from the source tree at ``root`` (a worker
    timing a baseline revision) instead of this script's."""
    root = osp.abspath(root)
    sys.path[:] = [p for p in sys.path if osp.abspath(p or '.') != REPO]
    sys.path.insert(0, root)
    if 'mmskysense' in sys.modules:
        raise RuntimeError(
            'bench_pretrain_step: mmskysense was imported before the worker chose its tree'
        )
    for k, path in RECIPES.items():
        RECIPES[k] = osp.join(root, osp.relpath(path, REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--preset', choices=sorted(PRESETS), default=None)
    parser.add_argument('--device', default=None, help='default: cuda if available, else cpu')
    parser.add_argument('--batch', type=int, default=0, help='per-GPU batch (0: the preset)')
    parser.add_argument(
        '--dtype', choices=('bfloat16', 'float32'), default=None, help='GPU: bfloat16, CPU: float32'
    )
    parser.add_argument(
        '--steps',
        type=int,
        default=0,
        help='timed steps (0: GPU 6, CPU 2; with --baseline-rev, rounds: GPU 6, CPU 10)',
    )
    parser.add_argument('--warmup', type=int, default=-1, help='(-1: GPU 2, CPU 1)')
    parser.add_argument(
        '--repeat', type=int, default=0, help='timed runs of the micro-benches (0: GPU 11, CPU 5)'
    )
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    parser.add_argument('--no-cp', action='store_true', help='without activation checkpointing')
    parser.add_argument('--skip-step', action='store_true', help='only the micro-benchmarks')
    parser.add_argument(
        '--skip-micro', action='store_true', help='only the step (no attention / MoE benches)'
    )
    parser.add_argument(
        '--baseline-rev',
        default=None,
        help='a commit of this repository: its step is timed side by side with the working '
        "tree's (each in its own process, alternately) and the ratio printed",
    )
    parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        use_source_tree(args.worker)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    args.device = str(device)
    args.preset = args.preset or ('paper' if device.type == 'cuda' else 'tiny')
    preset = PRESETS[args.preset]
    gpu = device.type == 'cuda'
    args.repeat = args.repeat or (11 if gpu else 5)
    args.steps = args.steps or ((6 if gpu else 10) if args.baseline_rev else (6 if gpu else 2))
    args.warmup = args.warmup if args.warmup >= 0 else (2 if gpu else 1)
    args.dtype = args.dtype or ('bfloat16' if device.type == 'cuda' else 'float32')
    dtype = torch.bfloat16 if args.dtype == 'bfloat16' else None
    register_grouped_mm_flops()
    register_cpu_sdpa_flops()
    if device.type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = True
    if args.worker:
        worker_main(args, preset, device, dtype)
        return
    print(
        f'torch {torch.__version__}, device {device}, preset {args.preset}, '
        f'threads {torch.get_num_threads()}',
        flush=True,
    )
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline_rev:
            lines += bench_against_baseline(args, preset, device, dtype, tmp)
        elif not args.skip_step:
            lines += bench_step(args, preset, device, dtype, tmp)
    if device.type == 'cuda':
        torch.cuda.empty_cache()
    if not args.skip_micro:
        lines.append(bench_attention(args, preset, device, dtype))
        lines.append(bench_moe(args, preset, device, dtype))
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
