"""Shrinking the Table 3 configs (configs/skysense_v2_mm/) to the tiny backbone on generated
data in the release layouts. Shared by the config tests and ``finetune_mm_tiny.py``; not a test
module (tests load it by path, pytest runs with ``--import-mode=importlib``). What every task's
shrinker shares is in ``tests/helpers/tiny.py``; this adds the fusion neck and its heads.
"""

import os.path as osp

from fake_releases import downstream as fake_data
from fake_releases import multimodal as fake_mm
from helpers.tiny import ROOT, load_tiny, shorten  # noqa: F401  (ROOT: the tests read it here)
from mmengine.config import Config

_MM = 'configs/skysense_v2_mm/'
CONFIGS = {
    'dyna_planet': _MM + 'upernet_skysense-v2-huge_4xb4-40k_dyna-mm-planet-512x512.py',
    'dyna_s2': _MM + 'upernet_skysense-v2-huge_4xb4-40k_dyna-mm-s2-512x512.py',
    'dyna_planet_s2': _MM + 'upernet_skysense-v2-huge_4xb4-40k_dyna-mm-planet-s2-512x512.py',
    'dyna_planet_s2_s1': _MM + 'upernet_skysense-v2-huge_4xb4-40k_dyna-mm-planet-s2-s1-512x512.py',
    'pastis_s2': _MM + 'fcn_skysense-v2-huge_4xb4-40k_pastis-mm-s2-128x128.py',
    'pastis_s2ts': _MM + 'fcn_skysense-v2-huge_4xb4-40k_pastis-mm-s2ts-128x128.py',
    'pastis_s2ts_s1ts': _MM + 'fcn_skysense-v2-huge_4xb4-40k_pastis-mm-s2ts-s1ts-128x128.py',
    'pastis_s2ts_gep': _MM + 'fcn_skysense-v2-huge_4xb4-40k_pastis-mm-s2ts-gep-128x128.py',
    'ben_s1': _MM + 'linear_skysense-v2-huge_1xb64-20k_ben-mm-s1.py',
    'ben_s2_s1': _MM + 'linear_skysense-v2-huge_1xb64-20k_ben-mm-s2-s1.py',
}
# the metric of each family (the paper's first)
METRICS = {'dyna': ['mIoU'], 'pastis': ['aAcc', 'mIoU'], 'ben': ['multi-label/mAP']}
TINY = dict(embed_dims=32, fused_dims=64, fusion_heads=4)


def family(name: str) -> str:
    return name.split('_')[0]


def make_data(name: str, root: str, scale: int = 1, visible: dict | None = None) -> str:
    """The fake release of config ``name``'s dataset under ``root``; returns its data_root
    (PASTIS: the ``PASTIS-R`` folder, with HR GeoTIFFs in ``<root>/PASTIS-HR``)."""
    fam = family(name)
    if fam == 'dyna':
        return fake_data.make_dynamic_earthnet(
            root,
            cubes=dict(train=2 * scale, val=1, test=1),
            months=('2018-01', '2018-02'),
            size=64,
            s2_size=16,
            cell=16,
            visible=visible,
        )
    if fam == 'pastis':
        return fake_mm.make_pastis_r(
            osp.join(root, 'PASTIS-R'),
            patches_per_fold=scale,
            size=32,
            cell=8,
            hr_root=osp.join(root, 'PASTIS-HR'),
            hr_gsd=2.5,
            visible=visible,
        )
    if fam == 'ben':
        return fake_data.make_bigearthnet(
            root,
            patches=dict(train=8 * scale, val=4, test=4 * scale),
            size=24,
            with_s1=True,
            split_columns=2,
            visible=visible,
        )
    raise KeyError(name)


def _set_load(cfg: Config, **sizes) -> None:
    """Set fields of LoadMultiModalImages' modality specs in every pipeline."""
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) is None:
            continue
        for step in cfg[loader]['dataset']['pipeline']:
            if step['type'] == 'LoadMultiModalImages':
                for m, fields in sizes.items():
                    if m != 'crop':
                        step['modalities'][m].update(fields)
            if step['type'] == 'MultiModalRandomCrop' and 'crop' in sizes:
                step['crop_size'] = sizes['crop']


def tiny_config(
    name: str,
    data_root: str,
    work_dir: str,
    max_iters: int = 1,
    test_samples: int | None = 2,
    lr: float | None = None,
    batch_size: int = 2,
    fusion_mode: str | None = None,
) -> Config:
    """Config ``name`` with the tiny backbone and fusion, tiny inputs, the generated data and a
    short schedule (no validation, no checkpoints)."""
    cfg = tiny_model_config(name, work_dir, fusion_mode)
    fam = family(name)
    if fam == 'dyna':
        _set_load(cfg, hr=dict(out_size=(64, 64)), s2=dict(out_size=(16, 16), num_dates=2),
                  s1=dict(out_size=(16, 16), num_dates=2), crop=(32, 32))  # fmt: skip
    elif fam == 'pastis':
        _set_load(cfg, hr=dict(out_size=(128, 128)), s2=dict(num_dates=3), s1=dict(num_dates=3))
    else:
        _set_load(cfg, s2=dict(out_size=(32, 32)), s1=dict(out_size=(32, 32)))
    shorten(cfg, data_root, max_iters, False, test_samples, lr, batch_size)
    if fam == 'pastis':
        for loader in ('train_dataloader', 'test_dataloader'):
            cfg[loader].dataset.hr_root = osp.join(osp.dirname(data_root), 'PASTIS-HR')
    return cfg


def tiny_model_config(name: str, work_dir: str, fusion_mode: str | None = None) -> Config:
    """Config ``name`` with the tiny backbone, fusion and heads (its data as the release's)."""
    cfg = load_tiny(CONFIGS[name], name, work_dir)
    c, d = TINY['embed_dims'], TINY['fused_dims']
    model = cfg.model
    neck = model.fusion_neck
    last_only = tuple(neck.stages) == (3,)
    neck.in_channels = [c * 8] if last_only else [c, c * 2, c * 4, c * 8]
    neck.fusion.update(embed_dims=d, num_heads=TINY['fusion_heads'], num_layers=1, init_cfg=None)
    if fusion_mode is not None:
        neck.mode = fusion_mode
    fused = d if neck.mode == 'temporal_fusion' else c * 8
    fam = family(name)
    if fam == 'dyna':
        model.decode_head.update(in_channels=[c, c * 2, c * 4, fused], channels=64)
        model.auxiliary_head.update(in_channels=c * 4, channels=32)
    elif fam == 'pastis':
        model.decode_head.update(in_channels=fused, channels=32, num_convs=1)
    else:
        model.head.in_channels = fused
    return cfg
