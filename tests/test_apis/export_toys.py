"""Tiny trained-model stand-ins for the export tests: the paper's UperNet (Potsdam), BIT
(LEVIR-CD) and linear scene classifier (AID) configs with the tiny backbone (its MoE blocks
included) on 64 px tiles, random weights, saved as a config file and a checkpoint as training
leaves them. Not a test module; tests load it by path."""

from pathlib import Path

import torch
from helpers.modules import REPO, load_module

from mmskysense.registry import MODELS

TILE = 64
_cd = load_module('export_cd_tiny', REPO / 'tests/test_change_detection/cd_tiny.py')
_ds = load_module('export_downstream_tiny', REPO / 'tests/test_downstream/downstream_tiny.py')
#: export test name -> (builder, dataset name)
KINDS = {
    'upernet': (_ds.tiny_config, 'potsdam'),
    'bit': (_cd.tiny_config, 'levir_cd'),
    'classifier': (_ds.tiny_config, 'aid'),
}


def tiny_model(kind: str, folder: Path, seed: int = 0):
    """``(config_path, checkpoint_path, model)`` of ``kind`` (``KINDS``): the config dumped
    to ``folder``, the model's weights saved beside it with the dataset's classes."""
    from mmengine.model import revert_sync_batchnorm

    from mmskysense.apis.scene.spec import classes_of
    from mmskysense.utils import register_all_modules

    register_all_modules()
    build, name = KINDS[kind]
    cfg = build(name, str(folder / 'data'), str(folder / 'work'))
    if kind == 'upernet':
        cfg.model.data_preprocessor.size = (TILE, TILE)
    cfg_path = folder / f'{kind}.py'
    cfg.dump(str(cfg_path))
    torch.manual_seed(seed)
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    classes, palette = classes_of(cfg, None, *_change_default(kind))
    meta = dict(classes=classes, palette=palette) if palette else dict(classes=classes)
    ckpt = folder / f'{kind}.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)), ckpt)
    return cfg_path, ckpt, model


def _change_default(kind: str) -> tuple:
    if kind != 'bit':
        return None, None
    from mmskysense.apis.scene.contract import CHANGE_CLASSES, CHANGE_PALETTE

    return CHANGE_CLASSES, CHANGE_PALETTE
