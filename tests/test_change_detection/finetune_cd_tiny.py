"""CPU fine-tuning check of change detection (not a test): the LEVIR-CD BIT config with the tiny
backbone trained for a few hundred steps on generated pairs with planted changes (new buildings
on date 2, other light, buildings of date 1 unchanged), then tested on held-out generated pairs.

    nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python \\
        tests/test_change_detection/finetune_cd_tiny.py --iters 300 --work-dir /tmp/ft_cd

It prints the changed-class F1 and the F1 of chance-level answers on the same test pixels:
"everything changed" (F1 = 2p / (1 + p) for a changed fraction p) and a random guess with the
right changed fraction (F1 = p).
"""

import importlib.util
import json
import os.path as osp
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: fake_releases, helpers

from helpers.tiny import finetune_parser, run_sizes, train_and_test  # noqa: E402

_spec = importlib.util.spec_from_file_location('cd_tiny', Path(__file__).with_name('cd_tiny.py'))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


def _changed_fraction(dataset) -> float:
    import mmcv

    changed = total = 0
    for i in range(len(dataset)):
        label = mmcv.imread(dataset.get_data_info(i)['seg_map_path'], flag='unchanged')
        changed += int((label == 255).sum())
        total += label.size
    return changed / total


def main() -> None:
    parser = finetune_parser(__doc__, iters=300, scale=8, lr=1e-3, batch_size=4)
    parser.add_argument('--name', default='levir_cd', choices=['levir_cd', 'oscd'])
    parser.add_argument('--size', type=int, default=128, help='side of the generated pairs')
    parser.add_argument('--crop', type=int, default=64)
    args = parser.parse_args()

    data_root = tiny.make_data(
        args.name, osp.join(args.work_dir, 'data'), scale=args.scale, size=args.size
    )
    cfg = tiny.tiny_config(
        args.name,
        data_root,
        osp.join(args.work_dir, 'run'),
        max_iters=args.iters,
        batch_size=args.batch_size,
        crop=args.crop,
        lr=args.lr,
    )
    runner, metrics, seconds = train_and_test(cfg, save_dir=args.work_dir)
    p = _changed_fraction(runner.test_dataloader.dataset)
    print(
        json.dumps(
            dict(
                config=tiny.CONFIGS[args.name],
                iters=args.iters,
                **run_sizes(runner, seconds, unit='pairs'),
                changed_fraction=round(p, 4),
                chance_f1_all_changed=round(100 * 2 * p / (1 + p), 2),
                chance_f1_random=round(100 * p, 2),
                metrics={k: round(float(v), 2) for k, v in metrics.items()},
            )
        )
    )


if __name__ == '__main__':
    main()
