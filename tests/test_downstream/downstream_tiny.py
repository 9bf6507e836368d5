"""Shrinking the downstream configs to the tiny backbone on generated data.

Shared by the config tests and by ``finetune_tiny.py`` (the CPU fine-tuning check). Not a test
module itself; tests load it by path since pytest runs with ``--import-mode=importlib``. What
every task's shrinker shares (the tiny backbone, widths, input sizes, the short schedule) is in
``tests/helpers/tiny.py``; this module holds the downstream datasets' configs and data.
"""

import os.path as osp

from fake_releases import downstream as fake_data
from helpers.tiny import (
    ROOT,  # noqa: F401  (the tests read it from here)
    load_converter,
    load_tiny,
    narrow_uper_heads,
    shorten,
    small_inputs,
    tiny_channels,
)
from mmengine.config import Config

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


def make_data(name: str, root: str, scale: int = 1) -> str:
    """Generate the fake release of dataset ``name`` under ``root``; returns the data_root the
    config should use (the converter's output for iSAID and Potsdam). ``scale`` multiplies the
    number of samples (for fine-tuning runs)."""
    if name == 'aid':
        fake_data.make_aid(root, per_class=2 * scale, size=48)
        # the config reads the TR 20 % split file of the converter
        load_converter('make_image_split').main(
            [root, aid_split_file(root), '--train-ratio', '0.2', '--seed', '0']
        )
        return root
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
        load_converter('isaid').convert(raw, out, ['train', 'val'], patch_size=128, stride=64)
        return out
    if name == 'potsdam':
        raw = osp.join(root, 'raw')
        tiles = ('2_10', '2_11', '2_12', '3_10')[: max(1, min(4, scale))] + ('2_13',)
        fake_data.make_potsdam(raw, tiles=tiles, size=192, cell=32)
        out = osp.join(root, 'converted')
        load_converter('potsdam').convert(raw, out, patch_size=128, train_stride=64, val_stride=128)
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


def aid_split_file(data_root: str) -> str:
    """Where ``make_data`` writes the AID split file of ``data_root``."""
    return osp.normpath(data_root) + '_tr20_seed0.json'


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
    cfg = load_tiny(CONFIGS[name], name, work_dir)
    tiny_channels(cfg.model)
    narrow_uper_heads(cfg)
    small_inputs(name, cfg)
    if name == 'aid':
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[loader].dataset.split_file = aid_split_file(data_root)
    return shorten(cfg, data_root, max_iters, validate, test_samples, lr, batch_size)
