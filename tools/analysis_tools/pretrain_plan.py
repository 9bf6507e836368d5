"""The paper-scale pretraining plan, measured without a GPU: peak memory per GPU of the sharded
recipe (``skysense-v2_huge_128xb8-fsdp-bf16-600k_geotiff.py``: FSDP2, bf16 parameters, fp32
gradient reduction) at 8, 32 and 128 ranks with activation checkpointing on and off, the FLOPs
of one step, and from those the step time and the 600k-iteration wall time at 30 / 40 / 50 %
MFU on H100, H200 and H20.

    python tools/analysis_tools/pretrain_plan.py [--ranks 8 32 128] [--cp on off] [--jobs 2]

How: each (ranks, checkpointing) runs in its own process. The model is built on the meta device
and materialised as fake tensors (``FakeTensorMode``: shapes, dtypes and storage sizes, no data,
no arithmetic), rank 0 of a fake process group of that size (``torch.distributed``'s ``fake``
backend: collectives return at once) is sharded by ``FSDP2Strategy.shard`` (the recipe's units
and mixed precision), and one full training step (student and teacher forward, every loss,
backward, gradient clipping, fused AdamW, EMA update) on the paper's batch (8 samples of 2 global
+ 6 local views, HR 224 / 96 px, S2 and S1 28 / 12 px, 10 S2 and 5 S1 dates; the batch of
``benchmarks/bench_pretrain_step.py --preset paper``) runs under
``torch.distributed._tools.fsdp2_mem_tracker.FSDPMemTracker`` (peak bytes by kind: sharded and
gathered parameters, gradients, optimiser states, activations, temporaries) and
``torch.utils.flop_counter.FlopCounterMode``. The optimiser states exist before the measured
step (a first step on zero gradients), so its peak is the steady state's.

What fake mode cannot do, and what stands in:

* The devices are CPU fake tensors (FSDP2 on a CUDA mesh asks the driver for the current
  device): the Swin V2 window attention is forced onto its GPU path
  (``scaled_dot_product_attention``, ``fused_sdpa=True``) so its saved tensors are a GPU's;
  the CPU flash-attention kernel then stands in for CUDA's memory-efficient one (both save the
  output and the log-sum-exp, not the attention matrix). No CUDA context, cuBLAS workspace or
  allocator fragmentation is counted: the table's "fits" leaves 10 % of the card for them.
* ``SkySenseV2Backbone`` selects the valid dates with ``nonzero`` (a data-dependent shape):
  every date is treated as present (the backbone gets no date mask), the most memory and FLOPs
  a batch of these sizes can take.
* Step time is not measured: it is the counted model FLOPs (no recomputation) over MFU x the
  chip's dense bf16 rate (an estimate, labelled so); communication is assumed overlapped.
"""

import argparse
import functools
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ''):
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
RECIPE = osp.join(REPO, 'configs/skysense_v2/skysense-v2_huge_128xb8-fsdp-bf16-600k_geotiff.py')
ITERS = 600_000
MFUS = (0.30, 0.40, 0.50)
#: dense bf16 tensor-core TFLOP/s and memory (GB) per chip, with where the figures come from
CHIPS = {
    'H100 SXM': (989.4, 80, 'NVIDIA H100 Tensor Core GPU datasheet (SXM5: 1,979 with sparsity)'),
    'H200 SXM': (989.4, 141, 'NVIDIA H200 Tensor Core GPU datasheet (SXM: 1,979 with sparsity)'),
    'H20': (148.0, 96, 'NVIDIA HGX H20 product brief (296 with sparsity), as reported'),
}
#: share of a card's memory the step may take (CUDA context, workspaces, fragmentation)
USABLE = 0.9


def measure(ranks: int, cp: bool, batch_size: int) -> dict:
    """One step of rank 0 of ``ranks`` under fake tensors: peak bytes by kind and FLOPs."""
    import torch
    import torch.distributed as dist
    from mmengine.config import Config
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.fsdp2_mem_tracker import FSDPMemTracker
    from torch.distributed.device_mesh import init_device_mesh
    from torch.testing._internal.distributed.fake_pg import FakeStore
    from torch.utils.flop_counter import FlopCounterMode

    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    import bench_pretrain_step as bench

    from mmskysense.engine.strategies import FSDP2Strategy
    from mmskysense.models.layers import SwinV2WindowAttention
    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    bench.register_grouped_mm_flops()
    bench.register_cpu_sdpa_flops()
    register_all_modules()
    dist.init_process_group('fake', store=FakeStore(), rank=0, world_size=ranks)
    cfg = Config.fromfile(RECIPE)
    strategy_cfg = {k: v for k, v in cfg.strategy.items() if k not in ('type', 'state_dict_type')}
    strategy = FSDP2Strategy(**strategy_cfg)
    preset = bench.PRESETS['paper']
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cfg.model.ita_head.loss.text_embeddings = bench.write_text_embeddings(tmp)
        with torch.device('meta'):
            model = MODELS.build(cfg.model)
    mesh = init_device_mesh('cpu', (ranks,))
    # meta tensors enter the fake mode as inputs of to_empty
    with FakeTensorMode(allow_non_fake_inputs=True), torch.device('cpu'):
        model = model.to_empty(device='cpu').train()
        for net in (model.backbone, model.teacher['backbone']):
            net.set_grad_checkpointing(cp)
            # every date present: the date selection (nonzero) has a data-dependent shape. The
            # pretraining step enters the backbone by forward_groups (every view group in one
            # pass), forward by forward_groups too: the masks are dropped there.
            if hasattr(net, 'forward_groups'):
                net.forward_groups = functools.partial(_all_dates, net.forward_groups)
            else:  # a backbone entered by forward alone
                net.register_forward_pre_hook(lambda m, args: (args[0], None))
        for m in model.modules():
            if isinstance(m, SwinV2WindowAttention):
                m.fused_sdpa = True  # the GPU's path
        strategy.shard(model, mesh)
        params = [p for p in model.parameters() if p.requires_grad]
        optim = torch.optim.AdamW(params, lr=2e-4, weight_decay=0.05, fused=True)
        for p in params:  # optimiser states first: the measured step is a steady one
            p.grad = torch.zeros_like(p)
        optim.step()
        optim.zero_grad(set_to_none=True)
        num_regions = cfg.model.gcpl_head.loss.num_regions
        batch = bench.make_batch(preset, batch_size, torch.device('cpu'), num_regions)
        tracker = FSDPMemTracker(model, optim)
        tracker.track_inputs((batch,))
        with tracker, FlopCounterMode(display=False) as flops:
            losses = model(batch, mode='loss')
            total, _ = model.parse_losses(losses)
            total.backward()
            torch.nn.utils.clip_grad_norm_(params, 3.0)
            optim.step()
            optim.zero_grad(set_to_none=True)
            model.update_teacher(0.996)
        peak = tracker.get_tracker_snapshot('peak')
    dist.destroy_process_group()
    snap = next(iter(peak.values()))
    kinds = {str(getattr(k, 'value', k)): int(v) for k, v in snap.items()}
    student = sum(p.numel() for n, p in model.named_parameters() if not n.startswith('teacher.'))
    return dict(
        ranks=ranks,
        cp=cp,
        batch=batch_size,
        peak=kinds,
        flops=int(flops.get_total_flops()),
        student_params=int(student),
        teacher_params=int(sum(p.numel() for p in model.teacher.parameters())),
        seconds=time.perf_counter() - t0,
    )


def _all_dates(forward_groups, groups):
    """``forward_groups`` with every date of every group taken as real."""
    return forward_groups([(inputs, None) for inputs, _ in groups])


def run_all(ranks, cps, batch_size, jobs) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    todo = [(r, cp) for cp in cps for r in ranks]
    running, results = [], []
    while todo or running:
        while todo and len(running) < jobs:
            r, cp = todo.pop(0)
            cmd = [sys.executable, __file__, '--one', str(r), str(int(cp)), str(batch_size)]
            running.append(
                subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            )
        proc = running.pop(0)
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f'pretrain_plan: {proc.args[-3:]} failed:\n{err.decode()[-4000:]}')
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def table(results: list[dict]) -> str:
    gib = 2**30
    lines = [
        '| ranks | checkpointing | peak / GPU (GiB) | params + grads + optimiser (sharded) | '
        'gathered params | activations | temporaries | fits 80 / 141 / 96 GB (90 %) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ]
    for r in sorted(results, key=lambda r: (not r['cp'], r['ranks'])):
        k = r['peak']
        state = sum(k.get(n, 0) for n in ('Sharded Param', 'Sharded Grad', 'OptState', 'Buffer'))
        gathered = k.get('Unsharded Param', 0) + k.get('All Gather', 0)
        temp = k.get('Temp', 0) + k.get('Unsharded Grad', 0) + k.get('Reduce Scatter', 0)
        fits = ' / '.join(
            'yes' if k['Total'] <= USABLE * mem * 1e9 else 'no' for _, mem, _ in CHIPS.values()
        )
        lines.append(
            f'| {r["ranks"]} | {"on" if r["cp"] else "off"} | {k["Total"] / gib:.1f} | '
            f'{state / gib:.1f} | {gathered / gib:.1f} | {k.get("Activation", 0) / gib:.1f} | '
            f'{temp / gib:.1f} | {fits} |'
        )
    by_cp = {r['cp']: r['flops'] for r in results}
    model_flops = by_cp.get(False)
    hw_flops = by_cp.get(True)
    out = ['\n'.join(lines), '']
    if model_flops is None:
        return '\n'.join(out + ['(model FLOPs need a run with checkpointing off)'])
    out.append(
        f'FLOPs per GPU and step (batch {results[0]["batch"]}): model {model_flops / 1e12:.1f} '
        'TFLOP (no recomputation)'
        + (f', hardware {hw_flops / 1e12:.1f} TFLOP with checkpointing' if hw_flops else '')
        + '.'
    )
    out.append('')
    out.append('| chip (dense bf16 TFLOP/s) | MFU | step (s) | 600k iterations (days) | source |')
    out.append('| --- | --- | --- | --- | --- |')
    for chip, (tflops, _, source) in CHIPS.items():
        for mfu in MFUS:
            step = model_flops / (mfu * tflops * 1e12)
            out.append(
                f'| {chip} ({tflops:g}) | {mfu:.0%} | {step:.2f} | {step * ITERS / 86400:.1f} | '
                f'{source} |'
            )
    return '\n'.join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--ranks', type=int, nargs='+', default=[8, 32, 128])
    parser.add_argument('--cp', nargs='+', choices=('on', 'off'), default=['on', 'off'])
    parser.add_argument('--batch', type=int, default=8, help='samples per GPU (paper: 8)')
    parser.add_argument('--jobs', type=int, default=2, help='configurations run at once')
    parser.add_argument('--json', default=None, help='also write the raw results here')
    parser.add_argument('--one', nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        ranks, cp, batch = args.one
        print(json.dumps(measure(ranks, bool(cp), batch)))
        return
    results = run_all(args.ranks, [c == 'on' for c in args.cp], args.batch, args.jobs)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    first = results[0]
    print(
        f'student {first["student_params"] / 1e9:.2f} B, teacher '
        f'{first["teacher_params"] / 1e9:.2f} B parameters; '
        f'{max(r["seconds"] for r in results):.0f} s per configuration at most'
    )
    print(table(results))


if __name__ == '__main__':
    main()
