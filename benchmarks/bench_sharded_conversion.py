"""Peak memory of converting a sharded pretraining checkpoint (FSDP2Strategy's ``iter_N.pth/``)
into one file: the former converter (``dcp_to_torch_save`` of every key, then ``torch.load`` of
the result and mmengine's ``save_checkpoint``, kept here as it was) against
``convert_sharded_checkpoint`` (the model's keys only, in groups under ``--max-memory-gb``,
written into a file laid out beforehand), side by side in one run.

The checkpoint is written once, in its own process, in FSDP2Strategy's layout: ``state_dict``
with the student (the segmentor of ``--arch``: UperNet on HR, ``base`` 0.31 B parameters) and a
teacher of the same keys (``teacher.``), ``optimizer`` with AdamW's state (``step``,
``exp_avg``, ``exp_avg_sq`` of every student parameter, keyed by name) and ``param_groups``, and
``extra.pth`` (meta, message hub). It is written by one process (``dcp.save`` without a process
group: one chunk per tensor; a run over N ranks writes N chunks, read one at a time either way).

Each converter then runs in a fresh process, which reports its peak resident memory
(``ru_maxrss``; and, sampled from ``/proc/self/statm`` every 5 ms, the peak of its anonymous
part, resident minus file-backed) over its resident memory before converting, divided by the
bytes of the model's tensors (student and teacher: what the output holds). A third process
checks each output against the written tensors (a float64 sum per tensor, exact). The model
read from the directory and held in memory (``load_sharded_checkpoint``, what ``init_model``
and ``load_weights`` do with a directory) is measured the same way (target: at most 1.2 x the
model, it being held once).

    python benchmarks/bench_sharded_conversion.py [--arch base] [--max-memory-gb 1] [--tmp DIR]
"""

import argparse
import json
import os.path as osp
import tempfile

from bench_checkpoint_loading import BUILD, CHECKSUM, CONFIG, run

WRITE = (
    CHECKSUM
    + BUILD
    + r"""
import os
import torch.distributed.checkpoint as dcp
student = model.state_dict()
params = [k for k, p in model.named_parameters()]
state = dict(student)
for k, v in student.items():  # a teacher of other values: a swapped key would show
    state['teacher.' + k] = v * 0.5 if v.is_floating_point() else v + 1
del model, student
optim = dict(
    state={k: dict(step=torch.tensor(100.0), exp_avg=torch.randn_like(state[k]),
                   exp_avg_sq=torch.rand_like(state[k])) for k in params},
    param_groups=[dict(lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05, params=params)],
)
sums = {k: checksum(v) for k, v in state.items()}
nbytes = lambda ts: sum(t.numel() * t.element_size() for t in ts)
model_bytes = nbytes(state.values())
optim_bytes = nbytes(t for s in optim['state'].values() for t in s.values())
dcp.save(dict(state_dict=state, optimizer=optim), checkpoint_id=a['src'], no_dist=True)
torch.save(dict(meta=dict(iter=100, seed=0, state_dict_type='sharded'),
                message_hub=dict(runtime_info=dict(iter=100))), os.path.join(a['src'], 'extra.pth'))
print(json.dumps(dict(sums=sums, model=model_bytes, optim=optim_bytes)))
"""
)

CONVERT = (
    CHECKSUM
    + r"""
import json, os, resource, sys, threading, time, torch
a = json.loads(sys.argv[1])
page = resource.getpagesize()
def statm():
    with open('/proc/self/statm') as f:
        _, resident, shared = (int(x) for x in f.read().split()[:3])
    return resident * page, (resident - shared) * page
peak_anon, done = [0], threading.Event()
def sample():
    while not done.is_set():
        peak_anon[0] = max(peak_anon[0], statm()[1])
        time.sleep(0.005)
if a['path'] == 'old':
    # the converter as it was (mmskysense before issue 29): every key joined, read back whole
    import tempfile
    from mmengine.runner.checkpoint import save_checkpoint
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
    def convert(src, dst):
        with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(dst))) as tmp:
            dcp_to_torch_save(src, os.path.join(tmp, 'full.pth'))
            state = torch.load(os.path.join(tmp, 'full.pth'), map_location='cpu',
                               weights_only=False)
        checkpoint = torch.load(os.path.join(src, 'extra.pth'), map_location='cpu',
                                weights_only=False)
        checkpoint['state_dict'] = state['state_dict']
        checkpoint['meta']['state_dict_type'] = 'full'
        save_checkpoint(checkpoint, dst)
elif a['path'] == 'new':
    from mmskysense.engine.strategies import convert_sharded_checkpoint
    def convert(src, dst):
        convert_sharded_checkpoint(src, dst, max_memory_gb=a['budget'])
else:  # what read_checkpoint (init_model, load_weights) does with a directory: held, not written
    from mmskysense.engine.strategies import load_sharded_checkpoint
    def convert(src, dst):
        return load_sharded_checkpoint(src)
base, base_anon = statm()
threading.Thread(target=sample, daemon=True).start()
t0 = time.perf_counter()
held = convert(a['src'], a['dst'])
seconds = time.perf_counter() - t0
done.set()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
sums = held and {k: checksum(v) for k, v in held['state_dict'].items()}
print(json.dumps(dict(base=base, peak=peak, base_anon=base_anon, peak_anon=peak_anon[0],
                      seconds=seconds, sums=sums)))
"""
)

VERIFY = (
    CHECKSUM
    + r"""
import json, sys, torch
a = json.loads(sys.argv[1])
ckpt = torch.load(a['dst'], map_location='cpu', mmap=True, weights_only=False)
print(json.dumps(dict(sums={k: checksum(v) for k, v in ckpt['state_dict'].items()},
                      keys=sorted(ckpt), meta=ckpt['meta'])))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', default='base', help='backbone size (tiny, base, large, huge)')
    parser.add_argument('--max-memory-gb', type=float, default=1.0, help="the new path's budget")
    parser.add_argument('--tmp', default=None, help='folder for the checkpoints (default: /tmp)')
    args = parser.parse_args()
    options = {'model.backbone.arch': args.arch}
    gib = 2**30
    label = 'bench_sharded_conversion'
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        src = osp.join(tmp, 'iter_100.pth')
        ref = json.loads(run(WRITE, dict(config=CONFIG, options=options, src=src), label))
        print(
            f'sharded checkpoint of {args.arch}: model (student + teacher) '
            f'{ref["model"] / gib:.2f} GiB in {len(ref["sums"])} tensors, optimiser '
            f'{ref["optim"] / gib:.2f} GiB'
        )
        results = {}
        for path in ('old', 'new', 'direct'):
            dst = osp.join(tmp, f'{path}.pth')
            cfg = dict(path=path, src=src, dst=dst, budget=args.max_memory_gb)
            r = json.loads(run(CONVERT, cfg, label))
            if path == 'direct':
                out = dict(r, keys=['message_hub', 'meta', 'state_dict'])
            else:
                out = json.loads(run(VERIFY, dict(dst=dst), label))
            bad = [k for k in ref['sums'] if out['sums'].get(k) != ref['sums'][k]]
            if bad or set(out['sums']) != set(ref['sums']):
                raise RuntimeError(
                    f'{label}: {path}: tensors differ from the written ones: {bad[:5]}'
                )
            if out['keys'] != ['message_hub', 'meta', 'state_dict']:
                raise RuntimeError(f'{label}: {path}: unexpected entries {out["keys"]}')
            ratio = (r['peak'] - r['base']) / ref['model']
            anon = (r['peak_anon'] - r['base_anon']) / ref['model']
            results[path] = ratio
            what = dict(
                old='dcp_to_torch_save + torch.load + save_checkpoint',
                new=f'convert_sharded_checkpoint, max_memory_gb={args.max_memory_gb:g}',
                direct='load_sharded_checkpoint: the model held in memory, not written',
            )[path]
            output = f'output {osp.getsize(dst) / gib:.2f} GiB, ' if osp.exists(dst) else ''
            print(
                f'RESULT sharded_conversion_{path} arch={args.arch} ({what}): peak RSS '
                f'{r["peak"] / gib:.2f} GiB, {(r["peak"] - r["base"]) / gib:.2f} GiB over the '
                f'{r["base"] / gib:.2f} GiB before; peak added / model = {ratio:.2f} '
                f'(anonymous memory: {anon:.2f}); {r["seconds"]:.1f} s; {output}every tensor '
                f'equals the written one'
            )
        print(
            f'RESULT sharded_conversion arch={args.arch}: new / old peak added = '
            f'{results["new"] / results["old"]:.2f} ({results["old"]:.2f} -> '
            f'{results["new"]:.2f} x the model)'
        )


if __name__ == '__main__':
    main()
