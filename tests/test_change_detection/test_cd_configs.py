"""Each change-detection config: build it, one training iteration and a test pass on generated
data laid out as the real release, with the tiny SkySenseV2SingleModal; the metric is computed."""

import importlib.util
import math
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location('cd_tiny', Path(__file__).with_name('cd_tiny.py'))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


@pytest.mark.parametrize('name', sorted(tiny.CONFIGS))
def test_config_trains_and_tests(name, tmp_path):
    from mmengine.runner import Runner

    from mmskysense.models.backbones import SkySenseV2SingleModal
    from mmskysense.utils import register_all_modules

    register_all_modules()

    data_root = tiny.make_data(name, str(tmp_path / 'data'), size=128)
    cfg = tiny.tiny_config(name, data_root, str(tmp_path / 'work'))
    runner = Runner.from_cfg(cfg)
    assert isinstance(runner.model.backbone, SkySenseV2SingleModal)
    assert runner.model.backbone.embed_dims == tiny.TINY_WIDTH  # the tiny preset itself
    runner.train()
    assert math.isfinite(runner.message_hub.get_scalar('train/loss').current())
    metrics = runner.test()
    for key in tiny.METRICS[name]:
        assert key in metrics, f'{name}: {key} not in {sorted(metrics)}'
        value = float(metrics[key])
        assert math.isfinite(value) and 0.0 <= value <= 100.0, (key, value)


def test_levir_cd_test_protocols():
    from mmengine.config import Config

    whole = Config.fromfile(str(tiny.ROOT / tiny.CONFIGS['levir_cd']))
    tiles = Config.fromfile(str(tiny.ROOT / tiny.CONFIGS['levir_cd_tiles']))
    assert whole.model.test_cfg == dict(mode='whole')
    assert tiles.model.test_cfg == dict(mode='slide', crop_size=(256, 256), stride=(256, 256))
    # the same model and training otherwise
    for key in ('backbone', 'neck', 'decode_head', 'data_preprocessor'):
        assert whole.model[key] == tiles.model[key]
    assert whole.train_dataloader == tiles.train_dataloader
    oscd = Config.fromfile(str(tiny.ROOT / tiny.CONFIGS['oscd']))
    assert oscd.model.test_cfg == dict(mode='slide', crop_size=(128, 128), stride=(64, 64))
    assert oscd.get('val_dataloader') is None  # no selection on the test cities
