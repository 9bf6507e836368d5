# Test (evaluate) a checkpoint with an mmskysense config (OpenMMLab conventions).
import argparse
import json
import numbers
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmskysense.engine.cpu_distributed import init_cpu_distributed
from mmskysense.utils import (
    add_hook_options_argument,
    apply_hook_options,
    register_all_modules,
)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the directory to save the file containing evaluation metrics'
    )
    parser.add_argument('--out', help='the file to dump the raw predictions to (.pkl)')
    parser.add_argument(
        '--metrics-out', help='write the metrics as JSON here (default: WORK_DIR/test_metrics.json)'
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.',
    )
    add_hook_options_argument(parser)  # --hook-options KNNEvalHook.data_root=DIR
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint} does not exist')
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    apply_hook_options(cfg, args.config, args.hook_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    init_cpu_distributed(args.launcher, cfg)

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit(f'--out must be a .pkl file, got {args.out}')
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    metrics = runner.test()
    # one line per metric, so that humans find the paper's number without the log ...
    for name, value in metrics.items():
        print(f'{name}: {value}')
    # ... and one file, so that scripts read numbers rather than log text
    path = args.metrics_out or osp.join(cfg.work_dir, 'test_metrics.json')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(
            dict(
                config=args.config,
                checkpoint=args.checkpoint,
                metrics={k: _jsonable(v) for k, v in metrics.items()},
            ),
            f,
            indent=1,
        )
    print(f'metrics written to {path}')
    print_paper_result(cfg.get('paper_result'), metrics)


def _jsonable(value):
    if isinstance(value, numbers.Number):
        return float(value) if not isinstance(value, bool) else value
    if hasattr(value, 'tolist'):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def print_paper_result(paper, metrics: dict) -> None:
    """A config's ``paper_result = dict(metric=KEY, value=V, source=TEXT)`` printed beside this
    run's value of the same metric (same key, same scale)."""
    if not paper:
        return
    key = paper['metric']
    ours = metrics.get(key)
    ours = f'{float(ours):.4f}' if ours is not None else f'not computed (no {key!r} metric)'
    print(
        f'paper ({paper.get("source", "paper")}): {key} = {float(paper["value"]):.4f}; '
        f'this run: {ours}'
    )


if __name__ == '__main__':
    main()
