"""The input contract (mmskysense.apis.scene.contract): derived from every config, on top of its
SceneSpec, and carried as plain JSON."""

import dataclasses
import glob
import json

import pytest
from helpers.modules import REPO
from mmengine.config import Config

from mmskysense.apis.scene.contract import (
    InputContract,
    contract_from_config,
    contract_from_dict,
    contract_to_dict,
    read_contract_json,
    write_contract_json,
)
from mmskysense.apis.scene.spec import scene_spec_from_config

CONFIGS = sorted(
    p for p in glob.glob(str(REPO / 'configs/*/*.py')) if '/_base_/' not in p.replace('\\', '/')
)


def _cfg(name: str) -> Config:
    return Config.fromfile(str(REPO / name))


def test_every_config_has_a_contract_that_survives_json():
    """tools/train.py writes one into every checkpoint: each config derives it, and it comes
    back equal from JSON."""
    from mmskysense.utils import register_all_modules

    register_all_modules()
    assert len(CONFIGS) > 30
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        contract = contract_from_config(cfg)
        # the spec is the scene engine's own, in its JSON form
        spec = json.loads(json.dumps(dataclasses.asdict(scene_spec_from_config(cfg))))
        assert contract_to_dict(contract)['spec'] == spec, path
        again = contract_from_dict(json.loads(json.dumps(contract_to_dict(contract))), path)
        assert again == contract, path


def test_potsdam_contract():
    cfg = _cfg('configs/skysense_v2_seg/upernet_skysense-v2-huge_4xb4-40k_potsdam-512x512.py')
    c = contract_from_config(cfg)
    assert c.task == 'segmentation' and c.gsd == 0.05
    assert c.classes[1] == 'building' and len(c.palette) == len(c.classes) == 6
    # OpenCV's BGR in training: the scene's RGB bands read reversed, swapped back by the
    # preprocessor, then standardised with its statistics
    assert c.spec.reference.bands == [3, 2, 1] and c.bgr_to_rgb
    assert c.mean == [123.675, 116.28, 103.53] and c.std == [58.395, 57.12, 57.375]
    assert (c.tile, c.overlap) == (512, 128)
    assert c.channel_stats(6) == (c.mean * 2, c.std * 2)  # a pair: per date


def test_tiling_by_task():
    aid = contract_from_config(
        _cfg('configs/skysense_v2_cls/linear_skysense-v2-huge_2xb32-20k_aid-tr20.py')
    )
    assert (aid.task, aid.tile, aid.overlap) == ('classification', 224, 0)  # its test resize
    dior = contract_from_config(
        _cfg('configs/skysense_v2_det/faster-rcnn_skysense-v2-huge-fpn_8xb2-12e_dior.py')
    )
    assert (dior.task, dior.overlap) == ('detection', 200)
    cfg = _cfg('configs/skysense_v2_seg/upernet_skysense-v2-huge_4xb4-40k_potsdam-512x512.py')
    cfg.scene_tile, cfg.scene_overlap = 256, 32
    assert (contract_from_config(cfg).tile, contract_from_config(cfg).overlap) == (256, 32)
    levir = _cfg('configs/skysense_v2_cd/bit_skysense-v2-huge_8xb4-40k_levir-cd-256x256.py')
    c = contract_from_config(levir)
    assert c.task == 'change' and c.classes == ['unchanged', 'changed']
    assert c.spec.reference.num_dates == 2 and c.spec.policy == 'exact'


def test_multi_modal_statistics_per_modality():
    cfg = _cfg(
        'configs/skysense_v2_mm/upernet_skysense-v2-huge_4xb4-40k_dyna-mm-planet-s2-512x512.py'
    )
    c = contract_from_config(cfg)
    assert c.spec.names == ['hr', 's2'] and isinstance(c.mean, dict)
    hr = c.channel_stats(3)
    assert hr == (c.mean['hr'], c.std['hr'])
    assert c.channel_stats(len(c.mean['s2']), 's2') == (c.mean['s2'], c.std['s2'])
    assert contract_from_dict(json.loads(json.dumps(contract_to_dict(c)))) == c


def test_bad_contracts_are_refused(tmp_path):
    cfg = _cfg('configs/skysense_v2_seg/upernet_skysense-v2-huge_4xb4-40k_potsdam-512x512.py')
    c = contract_from_config(cfg)
    with pytest.raises(ValueError, match='task must be one of'):
        InputContract(c.spec, 'regression')
    with pytest.raises(ValueError, match='give both mean and std'):
        InputContract(c.spec, 'segmentation', mean=[1.0])
    with pytest.raises(ValueError, match='all > 0'):
        InputContract(c.spec, 'segmentation', mean=[1.0], std=[0.0])
    with pytest.raises(ValueError, match='2 palette colours for 6 classes'):
        InputContract(c.spec, 'segmentation', classes=c.classes, palette=c.palette[:2])
    with pytest.raises(ValueError, match='do not divide the 4 channels'):
        c.channel_stats(4)
    path = tmp_path / 'model.json'
    write_contract_json(c, str(path), export=dict(format='onnx'))
    assert read_contract_json(str(path)) == (c, dict(export=dict(format='onnx')))
    path.write_text('{"spec": ')
    with pytest.raises(ValueError, match='model.json: not JSON'):
        read_contract_json(str(path))
    with pytest.raises(ValueError, match='would replace contract fields'):
        write_contract_json(c, str(tmp_path / 'x.json'), task='x')
    assert not (tmp_path / 'x.json').exists()
