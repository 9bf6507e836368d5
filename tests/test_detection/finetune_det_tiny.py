"""CPU fine-tuning check (not a test): a detection config with the tiny backbone trained for a
few hundred steps on generated data with easy objects (rotated rectangles, one colour per
class), then tested: its mAP must be clearly above zero.

    OMP_NUM_THREADS=1 .venv/bin/python tests/test_detection/finetune_det_tiny.py dior \
        --iters 400 --work-dir /tmp/ft_dior
    .venv/bin/python tools/test.py /tmp/ft_dior/finetuned_config.py /tmp/ft_dior/finetuned.pth
"""

import importlib.util
import json
import os.path as osp
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: fake_releases, helpers

from helpers.tiny import finetune_parser, run_sizes, train_and_test  # noqa: E402

_spec = importlib.util.spec_from_file_location('det_tiny', Path(__file__).with_name('det_tiny.py'))
det_tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(det_tiny)


def main() -> None:
    parser = finetune_parser(__doc__, iters=400, scale=10, lr=5e-4, batch_size=4)
    parser.add_argument('name', choices=sorted(det_tiny.CONFIGS))
    parser.add_argument(
        '--classes',
        type=int,
        nargs='+',
        default=[0, 3, 13, 18],
        help='class indices the generated objects are drawn from',
    )
    parser.add_argument('--size', type=int, default=128)
    args = parser.parse_args()

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
    runner, metrics, seconds = train_and_test(cfg, save_dir=args.work_dir)
    key = det_tiny.METRICS[args.name]
    print(
        json.dumps(
            dict(
                config=det_tiny.CONFIGS[args.name],
                iters=args.iters,
                **run_sizes(runner, seconds, unit='images'),
                metrics={
                    k: round(float(v), 4) for k, v in metrics.items() if k == key or '/AP50/' in k
                },
            )
        )
    )


if __name__ == '__main__':
    main()
