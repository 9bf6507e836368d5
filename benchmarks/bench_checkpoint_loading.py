"""Peak memory of loading a checkpoint for inference (``mmskysense.apis.init_model``): the file
read into memory and copied into the model (the former path, ``mmap=False``) against the file
mapped and its tensors taken by the model (``mmap=True``, the default), in one run.

A segmentor of the given backbone size (UperNet on HR: ``--arch base`` 0.31 B parameters,
1.16 GiB; ``huge`` 2.04 B, 7.6 GiB, whose former path needs about 17 GiB of RAM) is built once,
in its own process, and its checkpoint written (mmengine's layout: ``state_dict`` and
``meta``). Each path then runs in a fresh process: imports, ``init_model(config, checkpoint)``,
then a sum over every weight (what a first forward touches), and reports its peak resident
memory (``ru_maxrss``), the resident memory before loading, and the model's bytes. Also checks
that every loaded tensor equals the file's (a sum per tensor, exact).

    python benchmarks/bench_checkpoint_loading.py [--arch base|huge] [--paths read mmap]

Prints one ``RESULT`` line per path and the ratio of the peak over the model's size, the target
being at most 1.2 (what loading adds over the model: at most a fifth of it). ``--paths mmap``
runs the mapped path alone (for ``huge`` on a machine without the ~17 GiB the former path
needs); the side-by-side line needs both. ``--tmp DIR`` writes the checkpoint there (it is
deleted afterwards).
"""

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
CONFIG = osp.join(
    REPO, 'configs/skysense_v2_seg/upernet_skysense-v2-huge_4xb4-40k_dyna-pla-512x512.py'
)
TARGET = 1.2
#: ``--paths`` name -> (label, ``init_model``'s ``mmap``)
PATHS = dict(read=('read+copy', False), mmap=('mmap+assign', True))

#: a sum per tensor in float64, over slices of 4 Mi elements: a whole-tensor ``double()`` would
#: add twice the largest tensor (about 0.1 of the huge model) to the peak being measured
CHECKSUM = r"""
def checksum(v):
    return sum(float(c.double().sum()) for c in v.reshape(-1).split(1 << 22))
"""

# the model of the benchmark's config, built with its own weights (no pretrained init)
BUILD = r"""
import json, sys, torch
a = json.loads(sys.argv[1])
from mmengine.config import Config
from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules
register_all_modules()
cfg = Config.fromfile(a['config'])
cfg.merge_from_dict(a['options'])
cfg.model.get('backbone', {}).pop('init_cfg', None)
torch.manual_seed(0)
model = MODELS.build(cfg.model)
"""

WRITE = (
    CHECKSUM
    + BUILD
    + r"""
state = model.state_dict()
torch.save(dict(state_dict=state, meta=dict(dataset_meta=dict(classes=['a', 'b']))), a['ckpt'])
sums = {k: checksum(v) for k, v in state.items()}
print(json.dumps(sums))
"""
)

LOAD = (
    CHECKSUM
    + r"""
import json, resource, sys, torch
a = json.loads(sys.argv[1])
from mmskysense.apis import init_model
import mmskysense.models  # noqa: F401 (imports done before the baseline)
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()
base = rss()
model, meta = init_model(a['config'], a['ckpt'], cfg_options=a['options'], mmap=a['mmap'])
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # init_model alone
sums = {k: checksum(v) for k, v in model.state_dict().items()}  # touches every page
nbytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
print(json.dumps(dict(base=base, peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      model=nbytes, sums=sums, meta=meta, loaded=loaded)))
"""
)


def run(code: str, args: dict, label: str = 'bench_checkpoint_loading') -> str:
    """Run ``code`` in a fresh process with ``args`` (JSON); its last line of output."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run(
        [sys.executable, '-c', code, json.dumps(args)], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f'{label}: a child failed:\n{proc.stderr[-3000:]}')
    return proc.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', default='base', help='backbone size (base, large, huge)')
    parser.add_argument(
        '--paths', nargs='+', choices=sorted(PATHS), default=['read', 'mmap'], help='paths to run'
    )
    parser.add_argument('--tmp', default=None, help='folder for the checkpoint (default: /tmp)')
    args = parser.parse_args()
    options = {'model.backbone.arch': args.arch}
    gib = 2**30
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        ckpt = osp.join(tmp, 'model.pth')
        ref = json.loads(run(WRITE, dict(config=CONFIG, options=options, ckpt=ckpt)))
        size = osp.getsize(ckpt)
        print(f'checkpoint {size / gib:.2f} GiB ({len(ref)} tensors), backbone {args.arch}')
        results = {}
        for name, mmap in (PATHS[p] for p in dict.fromkeys(args.paths)):
            r = json.loads(run(LOAD, dict(config=CONFIG, options=options, ckpt=ckpt, mmap=mmap)))
            bad = [k for k in ref if r['sums'].get(k) != ref[k]]
            if bad or set(r['sums']) != set(ref):
                raise RuntimeError(f'bench_checkpoint_loading: {name}: tensors differ: {bad[:5]}')
            added = r['peak'] - r['base']
            results[name] = added / r['model']
            print(
                f'RESULT load_{name} arch={args.arch}: peak RSS {r["peak"] / gib:.2f} GiB, '
                f'{added / gib:.2f} GiB over the {r["base"] / gib:.2f} GiB before loading '
                f'({(r["loaded"] - r["base"]) / r["model"]:.2f} x the model when init_model '
                f'returns, before the weights are touched); '
                f'model {r["model"] / gib:.2f} GiB: peak added / model = {results[name]:.2f} '
                f'(target <= {TARGET}); every tensor equals the file'
            )
        if len(results) < 2:
            return
        print(
            f'RESULT checkpoint_loading arch={args.arch}: mmap+assign / read+copy = '
            f'{results["mmap+assign"] / results["read+copy"]:.2f} of the added peak '
            f'({results["read+copy"]:.2f} -> {results["mmap+assign"]:.2f} x the model; '
            f'target <= {TARGET}: {"met" if results["mmap+assign"] <= TARGET else "NOT met"})'
        )


if __name__ == '__main__':
    main()
