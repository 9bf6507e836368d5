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

    python benchmarks/bench_checkpoint_loading.py [--arch base|huge]

Prints one ``RESULT`` line per path and the ratio of the peak over the model's size, the target
being at most 1.2 (what loading adds over the model: at most a fifth of it).
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

WRITE = r"""
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
state = model.state_dict()
torch.save(dict(state_dict=state, meta=dict(dataset_meta=dict(classes=['a', 'b']))), a['ckpt'])
sums = {k: float(v.double().sum()) for k, v in state.items()}
print(json.dumps(sums))
"""

LOAD = r"""
import json, resource, sys, torch
a = json.loads(sys.argv[1])
from mmskysense.apis import init_model
import mmskysense.models  # noqa: F401 (imports done before the baseline)
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()
base = rss()
model, meta = init_model(a['config'], a['ckpt'], cfg_options=a['options'], mmap=a['mmap'])
sums = {k: float(v.double().sum()) for k, v in model.state_dict().items()}  # touches every page
nbytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
print(json.dumps(dict(base=base, peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      model=nbytes, sums=sums, meta=meta)))
"""


def run(code: str, args: dict) -> str:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run(
        [sys.executable, '-c', code, json.dumps(args)], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f'bench_checkpoint_loading: a child failed:\n{proc.stderr[-3000:]}')
    return proc.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', default='base', help='backbone size (base, large, huge)')
    args = parser.parse_args()
    options = {'model.backbone.arch': args.arch}
    gib = 2**30
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = osp.join(tmp, 'model.pth')
        ref = json.loads(run(WRITE, dict(config=CONFIG, options=options, ckpt=ckpt)))
        size = osp.getsize(ckpt)
        print(f'checkpoint {size / gib:.2f} GiB ({len(ref)} tensors), backbone {args.arch}')
        results = {}
        for name, mmap in (('read+copy', False), ('mmap+assign', True)):
            r = json.loads(run(LOAD, dict(config=CONFIG, options=options, ckpt=ckpt, mmap=mmap)))
            bad = [k for k in ref if r['sums'].get(k) != ref[k]]
            if bad or set(r['sums']) != set(ref):
                raise RuntimeError(f'bench_checkpoint_loading: {name}: tensors differ: {bad[:5]}')
            added = r['peak'] - r['base']
            results[name] = added / r['model']
            print(
                f'RESULT load_{name} arch={args.arch}: peak RSS {r["peak"] / gib:.2f} GiB, '
                f'{added / gib:.2f} GiB over the {r["base"] / gib:.2f} GiB before loading; '
                f'model {r["model"] / gib:.2f} GiB: peak added / model = {results[name]:.2f} '
                f'(target <= {TARGET}); every tensor equals the file'
            )
        print(
            f'RESULT checkpoint_loading arch={args.arch}: mmap+assign / read+copy = '
            f'{results["mmap+assign"] / results["read+copy"]:.2f} of the added peak '
            f'({results["read+copy"]:.2f} -> {results["mmap+assign"]:.2f} x the model; '
            f'target <= {TARGET}: {"met" if results["mmap+assign"] <= TARGET else "NOT met"})'
        )


if __name__ == '__main__':
    main()
