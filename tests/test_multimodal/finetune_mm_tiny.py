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

import importlib.util
import json
import os.path as osp
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: fake_releases, helpers

from helpers.tiny import finetune_parser, run_sizes, train_and_test  # noqa: E402

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
    parser = finetune_parser(__doc__, iters=300, scale=8, lr=1e-3, batch_size=8)
    parser.add_argument('--family', choices=sorted(SETUPS), default='ben')
    parser.add_argument('--fusion', default=None, help="fusion mode (default: the config's)")
    args = parser.parse_args()

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
        runner, metrics, seconds = train_and_test(cfg)
        keep = tiny.METRICS[tiny.family(name)]
        row = dict(
            modalities=tag,
            iters=args.iters,
            **run_sizes(runner, seconds),
            metrics={k: round(float(v), 2) for k, v in metrics.items() if k in keep},
        )
        print(json.dumps(row), flush=True)
        results.append(row)
    print(json.dumps(dict(config=tiny.CONFIGS[name], family=args.family, results=results)))


if __name__ == '__main__':
    main()
