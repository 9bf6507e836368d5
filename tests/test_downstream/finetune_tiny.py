"""CPU fine-tuning check (not a test): a downstream config with the tiny backbone trained for a
few hundred steps on generated data whose classes are separable, then tested.

    .venv/bin/python tests/test_downstream/finetune_tiny.py aid --iters 300 --work-dir /tmp/ft_aid
    .venv/bin/python tools/test.py /tmp/ft_aid/finetuned_config.py /tmp/ft_aid/finetuned.pth
"""

import importlib.util
import json
import os.path as osp
import sys
from pathlib import Path

# run as a script: the generators of fake releases and helpers/ live in tests/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.tiny import finetune_parser, run_sizes, set_in_pipelines, train_and_test  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    'downstream_tiny', Path(__file__).with_name('downstream_tiny.py')
)
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


def main() -> None:
    parser = finetune_parser(__doc__, iters=300, scale=5, lr=1e-3, batch_size=8)
    parser.add_argument('name', choices=sorted(tiny.CONFIGS))
    parser.add_argument(
        '--crop',
        type=int,
        default=None,
        help='training crop of the segmentation configs (default: tiny_config)',
    )
    args = parser.parse_args()

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
        set_in_pipelines(cfg, 'mmseg.RandomCrop', crop_size=(args.crop, args.crop))
        cfg.model.data_preprocessor.size = (args.crop, args.crop)
    runner, metrics, seconds = train_and_test(cfg, save_dir=args.work_dir)
    print(
        json.dumps(
            dict(
                config=tiny.CONFIGS[args.name],
                iters=args.iters,
                **run_sizes(runner, seconds),
                metrics={k: float(v) for k, v in metrics.items() if k in tiny.METRICS[args.name]},
            )
        )
    )


if __name__ == '__main__':
    main()
