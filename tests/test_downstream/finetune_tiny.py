"""CPU fine-tuning check (not a test): a downstream config with the tiny backbone trained for a
few hundred steps on generated data whose classes are separable, then tested.

    .venv/bin/python tests/test_downstream/finetune_tiny.py aid --iters 300 --work-dir /tmp/ft_aid
    .venv/bin/python tools/test.py /tmp/ft_aid/finetuned_config.py /tmp/ft_aid/finetuned.pth
"""

import argparse
import importlib.util
import json
import os.path as osp
import sys
import time
from pathlib import Path

# run as a script: the generators of fake releases live in tests/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_spec = importlib.util.spec_from_file_location(
    'downstream_tiny', Path(__file__).with_name('downstream_tiny.py')
)
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('name', choices=sorted(tiny.CONFIGS))
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument('--scale', type=int, default=5, help='samples multiplier of the data')
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument(
        '--crop',
        type=int,
        default=None,
        help='training crop of the segmentation configs (default: tiny_config)',
    )
    parser.add_argument('--work-dir', required=True)
    args = parser.parse_args()

    from mmengine.runner import Runner

    from mmskysense.utils import register_all_modules

    register_all_modules()
    data_root = tiny.make_data(args.name, osp.join(args.work_dir, 'data'), scale=args.scale)
    cfg = tiny.tiny_config(
        args.name,
        data_root,
        osp.join(args.work_dir, 'run'),
        max_iters=args.iters,
        test_samples=None,
        lr=args.lr,
        batch_size=args.batch_size,
    )
    if args.crop:
        tiny._set_in_pipelines(cfg, 'mmseg.RandomCrop', crop_size=(args.crop, args.crop))
        cfg.model.data_preprocessor.size = (args.crop, args.crop)
    cfg.log_level = 'INFO'
    runner = Runner.from_cfg(cfg)
    start = time.time()
    runner.train()
    # a checkpoint and the resolved config, for `tools/test.py <config> <checkpoint>`
    runner.save_checkpoint(
        args.work_dir, 'finetuned.pth', save_optimizer=False, save_param_scheduler=False
    )
    cfg.dump(osp.join(args.work_dir, 'finetuned_config.py'))
    metrics = runner.test()
    print(
        json.dumps(
            dict(
                config=tiny.CONFIGS[args.name],
                iters=args.iters,
                train_size=len(runner.train_dataloader.dataset),
                test_size=len(runner.test_dataloader.dataset),
                seconds=round(time.time() - start, 1),
                metrics={k: float(v) for k, v in metrics.items() if k in tiny.METRICS[args.name]},
            )
        )
    )


if __name__ == '__main__':
    main()
