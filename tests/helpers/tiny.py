"""Tiny downstream configs and short CPU fine-tuning runs: what the tasks' config shrinkers
(``tests/test_*/{downstream,det,cd,mm}_tiny.py``) and their fine-tuning checks
(``finetune_*tiny.py``) share. Each task module keeps its own configs, data and heads.

Imported as ``from helpers.tiny import ...`` (tests/ is on ``sys.path``: tests/conftest.py in the
suite, the runners' own ``sys.path`` line as scripts).
"""

import argparse
import copy
import importlib.util
import os.path as osp
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
#: the huge arch's stage widths -> the tiny arch's (SkySenseV2Backbone.arch_zoo)
HUGE_TO_TINY = {352: 32, 704: 64, 1408: 128, 2816: 256}
TINY_WIDTH = 32  # embed_dims of SkySenseV2Backbone.arch_zoo['tiny']
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def load_converter(name: str) -> ModuleType:
    """``tools/dataset_converters/<name>.py`` as a module (tools/ is not a package)."""
    path = ROOT / 'tools' / 'dataset_converters' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'converter_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_tiny(path: str, name: str, work_dir: str, **backbone: Any) -> Config:
    """The config at ``path`` (relative to the repository) with the tiny backbone, randomly
    initialised, without drop path (``backbone`` sets more of its fields), seed 0, writing to
    ``work_dir``."""
    cfg = Config.fromfile(str(ROOT / path))
    cfg.work_dir = work_dir
    cfg.experiment_name = f'tiny_{name}_{osp.basename(work_dir)}'
    cfg.randomness = dict(seed=0)
    cfg.model.backbone.update(arch='tiny', init_cfg=None, drop_path_rate=0.0, **backbone)
    return cfg


def tiny_channels(obj: Any, ints: bool = True) -> None:
    """Map the huge arch's stage widths to the tiny arch's wherever ``in_channels`` holds them
    (a list of them; with ``ints`` also a single one), in place."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == 'in_channels' and ints and isinstance(value, int) and value in HUGE_TO_TINY:
                obj[key] = HUGE_TO_TINY[value]
            elif (
                key == 'in_channels'
                and isinstance(value, (list, tuple))
                and value
                and all(v in HUGE_TO_TINY for v in value)
            ):
                obj[key] = [HUGE_TO_TINY[v] for v in value]
            else:
                tiny_channels(value, ints)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            tiny_channels(value, ints)


def narrow_uper_heads(cfg: Config) -> None:
    """UperNet's 512-channel convs dominate CPU time at any input size; the head's width is not
    what these runs check."""
    for head, width in (('decode_head', 64), ('auxiliary_head', 32)):
        if cfg.model.get(head):
            cfg.model[head].channels = width


def datasets(loader_cfg: dict) -> list:
    """The datasets of a dataloader config (the parts of a ``ConcatDataset``, or the one)."""
    ds = loader_cfg['dataset']
    return ds['datasets'] if ds.get('type') == 'ConcatDataset' else [ds]


def set_in_pipelines(cfg: Config, transform: str, **fields: Any) -> None:
    """Update every ``transform`` step of every dataloader's pipeline with ``fields``."""
    for loader in LOADERS:
        if cfg.get(loader) is None:
            continue
        for ds in datasets(cfg[loader]):
            for step in ds['pipeline']:
                if step['type'] == transform:
                    step.update(copy.deepcopy(fields))


def small_inputs(name: str, cfg: Config) -> None:
    """Tiny image sizes per downstream dataset (the real ones are 128-1024 px)."""
    if name in ('aid', 'resisc45'):
        set_in_pipelines(cfg, 'mmpretrain.RandomResizedCrop', scale=64)
        set_in_pipelines(cfg, 'Resize', scale=(64, 64))
    elif name == 'bigearthnet_s2':
        set_in_pipelines(cfg, 'Resize', scale=(32, 32))
    elif name == 'fmow_sentinel':
        set_in_pipelines(cfg, 'LoadTimeSeries', out_size=(32, 32))
    elif name in ('isaid', 'potsdam'):
        set_in_pipelines(cfg, 'RandomResize', scale=(128, 128))
        set_in_pipelines(cfg, 'mmseg.RandomCrop', crop_size=(128, 128))
        cfg.model.data_preprocessor.size = (128, 128)
    elif name == 'dynamic_earthnet_planet':
        set_in_pipelines(cfg, 'mmseg.RandomCrop', crop_size=(64, 64))
        cfg.model.data_preprocessor.size = (64, 64)
        cfg.model.test_cfg = dict(mode='slide', crop_size=(64, 64), stride=(48, 48))
    elif name == 'dynamic_earthnet_s2':
        set_in_pipelines(cfg, 'LoadTimeSeries', out_size=(32, 32))
        set_in_pipelines(cfg, 'LoadOneHotLabel', out_size=(32, 32))
        cfg.model.data_preprocessor.size = (32, 32)


def shorten(
    cfg: Config,
    data_root: str,
    max_iters: int = 1,
    validate: bool = False,
    test_samples: int | None = 4,
    lr: float | None = None,
    batch_size: int = 2,
    warmup: bool = False,
) -> Config:
    """Point every dataloader at ``data_root`` with small batches and no workers, and train
    ``max_iters`` iterations on a cosine schedule (after a linear warm-up over a tenth of them
    with ``warmup``) without checkpoints (nor validation unless ``validate``)."""
    for loader in LOADERS:
        if cfg.get(loader) is None:  # e.g. no validation split (OSCD)
            continue
        dl = cfg[loader]
        dl.batch_size = batch_size
        dl.num_workers = 0
        dl.persistent_workers = False
        for ds in datasets(dl):
            ds['data_root'] = data_root
        if loader != 'train_dataloader' and test_samples:
            dl.dataset.indices = test_samples
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
    begin = max_iters // 10 if warmup else 0
    cfg.param_scheduler = [
        dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=False, begin=begin, end=max_iters)
    ]
    if begin:
        cfg.param_scheduler.insert(
            0, dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=begin)
        )
    if lr is not None:
        cfg.optim_wrapper.optimizer.lr = lr
    if not validate:
        cfg.val_dataloader = None
        cfg.val_cfg = None
        cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=max(1, max_iters // 10))
    cfg.log_level = 'WARNING'
    return cfg


# ---------------------------------------------------------------- fine-tuning checks (scripts)


def finetune_parser(doc: str, iters: int, scale: int, lr: float, batch_size: int):
    """The arguments every fine-tuning check takes, with its defaults; it adds its own."""
    parser = argparse.ArgumentParser(description=doc.split('\n')[0])
    parser.add_argument('--iters', type=int, default=iters)
    parser.add_argument('--scale', type=int, default=scale, help='samples multiplier of the data')
    parser.add_argument('--lr', type=float, default=lr)
    parser.add_argument('--batch-size', type=int, default=batch_size)
    parser.add_argument('--work-dir', required=True)
    return parser


def train_and_test(cfg: Config, save_dir: str | None = None) -> tuple[Any, dict, float]:
    """Train ``cfg`` with mmengine's Runner (logging at INFO), then test it; with ``save_dir``,
    the weights and the resolved config are saved there between the two, for
    ``tools/test.py save_dir/finetuned_config.py save_dir/finetuned.pth``.

    Returns the runner, the test metrics and the seconds from the start of training."""
    from mmengine.runner import Runner

    from mmskysense.utils import register_all_modules

    register_all_modules()
    cfg.log_level = 'INFO'
    runner = Runner.from_cfg(cfg)
    start = time.time()
    runner.train()
    if save_dir is not None:
        runner.save_checkpoint(
            save_dir, 'finetuned.pth', save_optimizer=False, save_param_scheduler=False
        )
        cfg.dump(osp.join(save_dir, 'finetuned_config.py'))
    metrics = runner.test()
    return runner, metrics, round(time.time() - start, 1)


def run_sizes(runner: Any, seconds: float, unit: str = 'size') -> dict:
    """``train_<unit>``, ``test_<unit>`` (the datasets' lengths) and ``seconds`` of a run."""
    return {
        f'train_{unit}': len(runner.train_dataloader.dataset),
        f'test_{unit}': len(runner.test_dataloader.dataset),
        'seconds': seconds,
    }


def tiny_upernet(num_classes: int) -> dict:
    """The model dict of a tiny UperNet on the SkySense V2 HR backbone (random weights)."""
    return dict(
        type='mmseg.EncoderDecoder',
        data_preprocessor=dict(type='mmseg.SegDataPreProcessor', mean=[120.0] * 3, std=[60.0] * 3),
        backbone=dict(type='SkySenseV2SingleModal', arch='tiny', modality='hr'),
        decode_head=dict(
            type='mmseg.UPerHead',
            in_channels=[32 * 2**i for i in range(4)],  # the tiny arch's stages
            in_index=[0, 1, 2, 3],
            channels=32,
            num_classes=num_classes,
            norm_cfg=dict(type='BN', requires_grad=True),
            loss_decode=dict(type='mmseg.CrossEntropyLoss'),
        ),
    )
