"""CPU fine-tuning check of the multi-modal configs (not a test): generated data in which each
modality carries part of the signal, the tiny backbone trained from scratch with each modality
set, then tested. The multi-modal set should beat each single modality.

BEN-MM (default): S2 shows classes 0-9 only, S1 classes 10-18 only (make_bigearthnet(visible)).
Dyna.-MM (``--family dyna``): Planet shows the class parity (k % 2), S2 its half (k // 2), so
only both together identify the six classes.

    nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python tests/test_multimodal/finetune_mm_tiny.py \\
        --family ben --iters 200 --scale 6 --work-dir /tmp/ft_mm_ben
    nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python tests/test_multimodal/finetune_mm_tiny.py \\
        --family dyna --iters 150 --scale 3 --batch-size 4 --work-dir /tmp/ft_mm_dyna

(the runs of docs/multimodal.md, "Tests and the CPU fine-tuning check", with their figures)
"""

import argparse
import json
import os.path as osp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # fake_releases, as a script

import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location('mm_tiny', Path(__file__).with_name('mm_tiny.py'))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

# family -> (config, visible signal per modality, modality sets compared)
SETUPS = dict(
    ben=(
        'ben_s2_s1',
        dict(s2=range(0, 10), s1=range(10, 19)),
        (['s2'], ['s1'], ['s2', 's1']),
    ),
    dyna=(
        'dyna_planet_s2',
        dict(hr='parity', s2='third', s1='none'),
        (['hr'], ['s2'], ['hr', 's2']),
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--family', choices=sorted(SETUPS), default='ben')
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument('--scale', type=int, default=8, help='samples multiplier of the data')
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--fusion', default=None, help="fusion mode (default: the config's)")
    parser.add_argument('--work-dir', required=True)
    args = parser.parse_args()

    from mmengine.runner import Runner

    from mmskysense.utils import register_all_modules

    register_all_modules()
    name, visible, sets = SETUPS[args.family]
    key = dict(visible)
    if args.family == 'dyna':
        key = dict(planet=visible['hr'], s2=visible['s2'], s1=visible['s1'])
    data_root = tiny.make_data(name, osp.join(args.work_dir, 'data'), args.scale, key)
    results = []
    for modalities in sets:
        tag = '+'.join(modalities)
        cfg = tiny.tiny_config(
            name,
            data_root,
            osp.join(args.work_dir, tag),
            max_iters=args.iters,
            test_samples=None,
            lr=args.lr,
            batch_size=args.batch_size,
            fusion_mode=args.fusion,
        )
        # another combination of the Table 3 config: its `modalities` value
        cfg.model.modalities = modalities
        for loader in ('train_dataloader', 'test_dataloader'):
            cfg[loader].dataset.modalities = modalities
        cfg.log_level = 'INFO'
        runner = Runner.from_cfg(cfg)
        start = time.time()
        runner.train()
        metrics = runner.test()
        keep = tiny.METRICS[tiny.family(name)]
        row = dict(
            modalities=tag,
            iters=args.iters,
            train_size=len(runner.train_dataloader.dataset),
            test_size=len(runner.test_dataloader.dataset),
            seconds=round(time.time() - start, 1),
            metrics={k: round(float(v), 2) for k, v in metrics.items() if k in keep},
        )
        print(json.dumps(row), flush=True)
        results.append(row)
    print(json.dumps(dict(config=tiny.CONFIGS[name], family=args.family, results=results)))


if __name__ == '__main__':
    main()
