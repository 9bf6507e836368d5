"""Shrinking the change-detection configs to the tiny backbone on generated releases.

Shared by the config tests and by ``finetune_cd_tiny.py`` (the CPU fine-tuning check). Not a
test module; tests load it by path (pytest runs with ``--import-mode=importlib``). The
shrinking itself is every task's (``tests/helpers/tiny.py``); this adds the change detectors'
pieces.
"""

from fake_releases import change_detection as fake_cd
from helpers.tiny import (  # noqa: F401  (ROOT, TINY_WIDTH: the tests read them from here)
    ROOT,
    TINY_WIDTH,
    load_tiny,
    narrow_uper_heads,
    set_in_pipelines,
    shorten,
    small_inputs,
    tiny_channels,
)
from mmengine.config import Config

_CD = 'configs/skysense_v2_cd/'
CONFIGS = {
    'levir_cd': _CD + 'bit_skysense-v2-huge_8xb4-40k_levir-cd-256x256.py',
    'levir_cd_tiles': _CD + 'bit_skysense-v2-huge_8xb4-40k_levir-cd-256x256_tile-test.py',
    'oscd': _CD + 'bit_skysense-v2-huge_8xb4-40k_oscd-128x128.py',
    'dynearthnet_s2_scs': _CD + 'upernet_skysense-v2-huge_4xb4-40k_dyna-s2-scs-256x256.py',
}
# the paper's metric first
METRICS = {
    'levir_cd': ['change/F1', 'change/precision', 'change/recall', 'change/IoU'],
    'levir_cd_tiles': ['change/F1'],
    'oscd': ['change/F1', 'change/precision', 'change/recall', 'change/IoU'],
    'dynearthnet_s2_scs': ['SCS', 'BC', 'SC', 'mIoU'],
}
# months of the generated DynamicEarthNet cubes (the real ones have 24)
SCS_MONTHS = ('2018-01', '2018-02', '2018-03')


def make_data(name: str, root: str, scale: int = 1, size: int = 128) -> str:
    """Generate the fake release of ``name`` under ``root``; returns the config's data_root.
    ``scale`` multiplies the number of samples (for fine-tuning); ``size``: LEVIR-CD's side."""
    if name.startswith('levir_cd'):
        return fake_cd.make_levir_cd(
            root, pairs=dict(train=2 * scale, val=1, test=scale), size=size
        )
    if name == 'oscd':
        return fake_cd.make_oscd(root)
    if name == 'dynearthnet_s2_scs':
        from fake_releases import downstream as fake_data

        return fake_data.make_dynamic_earthnet(
            root,
            cubes=dict(train=scale, val=1, test=2),
            months=SCS_MONTHS,
            size=64,
            s2_size=24,
            cell=16,
        )
    raise KeyError(name)


def tiny_config(
    name: str,
    data_root: str,
    work_dir: str,
    max_iters: int = 1,
    batch_size: int = 2,
    crop: int = 64,
    lr: float | None = None,
    validate: bool = False,
) -> Config:
    """The config of ``name`` with the tiny backbone, small crops, generated data and a short
    schedule."""
    cfg = load_tiny(CONFIGS[name], name, work_dir)
    tiny_channels(cfg.model)
    narrow_uper_heads(cfg)
    shorten(cfg, data_root, max_iters, validate, None, lr, batch_size)
    if name == 'dynearthnet_s2_scs':  # the Dyna.-S2 segmentation model, shrunk as there
        small_inputs('dynamic_earthnet_s2', cfg)
        for key in ('val_evaluator', 'test_evaluator'):
            if cfg.get(key):
                cfg[key].months_per_cube = len(SCS_MONTHS)
        return cfg
    head = cfg.model.decode_head
    head.in_channels = [2 * TINY_WIDTH * 2**i for i in range(4)]  # both dates concatenated
    head.dec_depth = 2  # the decoder's depth is not what these runs check; it costs CPU time
    cfg.model.data_preprocessor.size = (crop, crop)
    set_in_pipelines(cfg, 'mmseg.RandomCrop', crop_size=(crop, crop))
    if cfg.model.test_cfg.mode == 'slide':
        cfg.model.test_cfg.crop_size = (crop, crop)
        cfg.model.test_cfg.stride = (crop // 2, crop // 2) if name == 'oscd' else (crop, crop)
    for loader in ('val_dataloader', 'test_dataloader'):
        if cfg.get(loader) is not None:
            cfg[loader].batch_size = 1  # OSCD's cities differ in size
    return cfg
