"""CPU fine-tuning check (not a test): a detection config with the tiny backbone trained for a
few hundred steps on generated data with easy objects (rotated rectangles, one colour per
class), then tested: its mAP must be clearly above zero.

    OMP_NUM_THREADS=1 .venv/bin/python tests/test_detection/finetune_det_tiny.py dior \
        --iters 400 --work-dir /tmp/ft_dior
    .venv/bin/python tools/test.py /tmp/ft_dior/finetuned_config.py /tmp/ft_dior/finetuned.pth
"""

import argparse
import importlib.util
import json
import os.path as osp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fake_releases
_spec = importlib.util.spec_from_file_location('det_tiny', Path(__file__).with_name('det_tiny.py'))
det_tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(det_tiny)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('name', choices=sorted(det_tiny.CONFIGS))
    parser.add_argument('--iters', type=int, default=400)
    parser.add_argument('--scale', type=int, default=10, help='images multiplier of the data')
    parser.add_argument(
        '--classes',
        type=int,
        nargs='+',
        default=[0, 3, 13, 18],
        help='class indices the generated objects are drawn from',
    )
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--lr', type=float, default=5e-4)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--work-dir', required=True)
    args = parser.parse_args()

    from mmengine.runner import Runner

    from mmskysense.utils import register_all_modules

    register_all_modules()
    data_root = det_tiny.make_data(
        args.name,
        osp.join(args.work_dir, 'data'),
        scale=args.scale,
        size=args.size,
        classes=args.classes,
    )
    cfg = det_tiny.tiny_config(
        args.name,
        data_root,
        osp.join(args.work_dir, 'run'),
        max_iters=args.iters,
        size=args.size,
        batch_size=args.batch_size,
        lr=args.lr,
    )
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
    key = det_tiny.METRICS[args.name]
    print(
        json.dumps(
            dict(
                config=det_tiny.CONFIGS[args.name],
                iters=args.iters,
                train_images=len(runner.train_dataloader.dataset),
                test_images=len(runner.test_dataloader.dataset),
                seconds=round(time.time() - start, 1),
                metrics={
                    k: round(float(v), 4) for k, v in metrics.items() if k == key or '/AP50/' in k
                },
            )
        )
    )


if __name__ == '__main__':
    main()
