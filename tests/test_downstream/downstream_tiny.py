"""Shrinking the downstream configs to the tiny backbone on generated data.

Shared by the config tests and by ``finetune_tiny.py`` (the CPU fine-tuning check). Not a test
module itself; tests load it by path since pytest runs with ``--import-mode=importlib``.
"""

import copy
import os.path as osp
from pathlib import Path

from fake_releases import downstream as fake_data
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
_CLS, _SEG = 'configs/skysense_v2_cls/', 'configs/skysense_v2_seg/'
CONFIGS = {
    'aid': _CLS + 'linear_skysense-v2-huge_2xb32-20k_aid-tr20.py',
    'resisc45': _CLS + 'linear_skysense-v2-huge_2xb32-20k_resisc45-tr10.py',
    'bigearthnet_s2': _CLS + 'linear_skysense-v2-huge_1xb64-20k_ben-s2-tr10.py',
    'fmow_sentinel': _CLS + 'linear_skysense-v2-huge_4xb16-20k_fmow-s2.py',
    'isaid': _SEG + 'upernet_skysense-v2-huge_4xb4-40k_isaid-896x896.py',
    'potsdam': _SEG + 'upernet_skysense-v2-huge_4xb4-40k_potsdam-512x512.py',
    'dynamic_earthnet_planet': _SEG + 'upernet_skysense-v2-huge_4xb4-40k_dyna-pla-512x512.py',
    'dynamic_earthnet_s2': _SEG + 'upernet_skysense-v2-huge_4xb4-40k_dyna-s2-256x256.py',
}
# the metric each config reports (the paper's one first)
METRICS = {
    'aid': ['accuracy/top1'],
    'resisc45': ['accuracy/top1'],
    'bigearthnet_s2': ['multi-label/mAP'],
    'fmow_sentinel': ['accuracy/top1', 'accuracy/top5'],
    'isaid': ['mIoU'],
    'potsdam': ['mFscore', 'mIoU'],
    'dynamic_earthnet_planet': ['mIoU'],
    'dynamic_earthnet_s2': ['mIoU'],
}
HUGE_TO_TINY = {352: 32, 704: 64, 1408: 128, 2816: 256}


def _load_converter(name: str):
    import importlib.util

    path = ROOT / 'tools' / 'dataset_converters' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'converter_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_data(name: str, root: str, scale: int = 1) -> str:
    """Generate the fake release of dataset ``name`` under ``root``; returns the data_root the
    config should use (the converter's output for iSAID and Potsdam). ``scale`` multiplies the
    number of samples (for fine-tuning runs)."""
    if name == 'aid':
        return fake_data.make_aid(root, per_class=2 * scale, size=48)
    if name == 'resisc45':
        return fake_data.make_resisc45(root, per_class=2 * scale, size=48)
    if name == 'bigearthnet_s2':
        return fake_data.make_bigearthnet(
            root, patches=dict(train=8 * scale, val=4, test=4 * scale), size=24
        )
    if name == 'fmow_sentinel':
        return fake_data.make_fmow_sentinel(
            root,
            locations=dict(train=4 * scale, val=2, test=2 * scale),
            dates=(2, 8),
            size=24,
            num_classes=min(62, 4 * scale),
        )
    if name == 'isaid':
        raw = osp.join(root, 'raw')
        fake_data.make_isaid(raw, images=dict(train=scale, val=1), size=192, cell=32)
        out = osp.join(root, 'converted')
        _load_converter('isaid').convert(raw, out, ['train', 'val'], patch_size=128, stride=64)
        return out
    if name == 'potsdam':
        raw = osp.join(root, 'raw')
        tiles = ('2_10', '2_11', '2_12', '3_10')[: max(1, min(4, scale))] + ('2_13',)
        fake_data.make_potsdam(raw, tiles=tiles, size=192, cell=32)
        out = osp.join(root, 'converted')
        _load_converter('potsdam').convert(
            raw, out, patch_size=128, train_stride=64, val_stride=128
        )
        return out
    if name in ('dynamic_earthnet_planet', 'dynamic_earthnet_s2'):
        return fake_data.make_dynamic_earthnet(
            root,
            cubes=dict(train=scale, val=1, test=1),
            months=('2018-01', '2018-02'),
            size=128,
            s2_size=40,
            cell=16,
        )
    raise KeyError(name)


def _tiny_channels(obj):
    """Map the huge arch's stage widths to the tiny arch's wherever ``in_channels`` holds them."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == 'in_channels' and isinstance(value, int) and value in HUGE_TO_TINY:
                obj[key] = HUGE_TO_TINY[value]
            elif (
                key == 'in_channels'
                and isinstance(value, (list, tuple))
                and value
                and all(v in HUGE_TO_TINY for v in value)
            ):
                obj[key] = [HUGE_TO_TINY[v] for v in value]
            else:
                _tiny_channels(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _tiny_channels(value)


def _set_in_pipelines(cfg: Config, transform: str, **fields) -> None:
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) is None:
            continue
        for step in cfg[loader]['dataset']['pipeline']:
            if step['type'] == transform:
                step.update(copy.deepcopy(fields))


def _small_inputs(name: str, cfg: Config) -> None:
    """Tiny image sizes per dataset (the real ones are 128-1024 px)."""
    if name in ('aid', 'resisc45'):
        _set_in_pipelines(cfg, 'mmpretrain.RandomResizedCrop', scale=64)
        _set_in_pipelines(cfg, 'Resize', scale=(64, 64))
    elif name == 'bigearthnet_s2':
        _set_in_pipelines(cfg, 'Resize', scale=(32, 32))
    elif name == 'fmow_sentinel':
        _set_in_pipelines(cfg, 'LoadTimeSeries', out_size=(32, 32))
    elif name in ('isaid', 'potsdam'):
        _set_in_pipelines(cfg, 'RandomResize', scale=(128, 128))
        _set_in_pipelines(cfg, 'mmseg.RandomCrop', crop_size=(128, 128))
        cfg.model.data_preprocessor.size = (128, 128)
    elif name == 'dynamic_earthnet_planet':
        _set_in_pipelines(cfg, 'mmseg.RandomCrop', crop_size=(64, 64))
        cfg.model.data_preprocessor.size = (64, 64)
        cfg.model.test_cfg = dict(mode='slide', crop_size=(64, 64), stride=(48, 48))
    elif name == 'dynamic_earthnet_s2':
        _set_in_pipelines(cfg, 'LoadTimeSeries', out_size=(32, 32))
        _set_in_pipelines(cfg, 'LoadOneHotLabel', out_size=(32, 32))
        cfg.model.data_preprocessor.size = (32, 32)


def tiny_config(
    name: str,
    data_root: str,
    work_dir: str,
    max_iters: int = 1,
    validate: bool = False,
    test_samples: int | None = 4,
    lr: float | None = None,
    batch_size: int = 2,
) -> Config:
    """The dataset's config with the tiny backbone, tiny inputs, generated data and a short
    schedule; ``validate`` keeps a validation at the end of training."""
    cfg = Config.fromfile(str(ROOT / CONFIGS[name]))
    cfg.work_dir = work_dir
    cfg.experiment_name = f'tiny_{name}_{osp.basename(work_dir)}'
    cfg.randomness = dict(seed=0)
    backbone = cfg.model.backbone
    backbone.arch = 'tiny'
    backbone.init_cfg = None
    backbone.drop_path_rate = 0.0
    _tiny_channels(cfg.model)
    # UperNet's 512-channel convs dominate CPU time at any input size; the head's width is not
    # what these runs check
    for head, width in (('decode_head', 64), ('auxiliary_head', 32)):
        if cfg.model.get(head):
            cfg.model[head].channels = width
    _small_inputs(name, cfg)
    return shorten(cfg, data_root, max_iters, validate, test_samples, lr, batch_size)


def shorten(
    cfg: Config,
    data_root: str,
    max_iters: int = 1,
    validate: bool = False,
    test_samples: int | None = 4,
    lr: float | None = None,
    batch_size: int = 2,
) -> Config:
    """Point every dataloader at ``data_root`` with small batches and no workers, and train
    ``max_iters`` iterations without checkpoints (nor validation unless ``validate``)."""
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) is None:  # e.g. no validation split (OSCD)
            continue
        dl = cfg[loader]
        dl.batch_size = batch_size
        dl.num_workers = 0
        dl.persistent_workers = False
        dl.dataset.data_root = data_root
        if loader != 'train_dataloader' and test_samples:
            dl.dataset.indices = test_samples
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
    cfg.param_scheduler = [
        dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=False, begin=0, end=max_iters)
    ]
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
