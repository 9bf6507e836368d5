"""CPU fine-tuning check of change detection (not a test): the LEVIR-CD BIT config with the tiny
backbone trained for a few hundred steps on generated pairs with planted changes (new buildings
on date 2, other light, buildings of date 1 unchanged), then tested on held-out generated pairs.

    nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python \\
        tests/test_change_detection/finetune_cd_tiny.py --iters 300 --work-dir /tmp/ft_cd

It prints the changed-class F1 and the F1 of chance-level answers on the same test pixels:
"everything changed" (F1 = 2p / (1 + p) for a changed fraction p) and a random guess with the
right changed fraction (F1 = p).
"""

import argparse
import importlib.util
import json
import os.path as osp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fake_releases
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
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--name', default='levir_cd', choices=['levir_cd', 'oscd'])
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument('--scale', type=int, default=8, help='samples multiplier of the data')
    parser.add_argument('--size', type=int, default=128, help='side of the generated pairs')
    parser.add_argument('--crop', type=int, default=64)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--work-dir', required=True)
    args = parser.parse_args()

    from mmengine.runner import Runner

    from mmskysense.utils import register_all_modules

    register_all_modules()
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
    cfg.log_level = 'INFO'
    runner = Runner.from_cfg(cfg)
    start = time.time()
    runner.train()
    runner.save_checkpoint(
        args.work_dir, 'finetuned.pth', save_optimizer=False, save_param_scheduler=False
    )
    cfg.dump(osp.join(args.work_dir, 'finetuned_config.py'))
    metrics = runner.test()
    p = _changed_fraction(runner.test_dataloader.dataset)
    print(
        json.dumps(
            dict(
                config=tiny.CONFIGS[args.name],
                iters=args.iters,
                train_pairs=len(runner.train_dataloader.dataset),
                test_pairs=len(runner.test_dataloader.dataset),
                seconds=round(time.time() - start, 1),
                changed_fraction=round(p, 4),
                chance_f1_all_changed=round(100 * 2 * p / (1 + p), 2),
                chance_f1_random=round(100 * p, 2),
                metrics={k: round(float(v), 2) for k, v in metrics.items()},
            )
        )
    )


if __name__ == '__main__':
    main()
