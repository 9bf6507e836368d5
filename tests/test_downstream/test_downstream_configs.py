"""Each of the eight downstream configs: build it, one training iteration and a test pass on
generated data laid out as the real release, with the tiny SkySenseV2SingleModal."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

_spec = importlib.util.spec_from_file_location(
    'downstream_tiny', Path(__file__).with_name('downstream_tiny.py')
)
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny models gain nothing from intra-op threads, and on a busy shared machine the threads
    # oversubscribe the cores (measured ~10x slower); restore the setting afterwards
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize('name', sorted(tiny.CONFIGS))
def test_config_trains_and_tests(name, tmp_path):
    from mmengine.runner import Runner

    from mmskysense.models.backbones import SkySenseV2SingleModal
    from mmskysense.utils import register_all_modules

    register_all_modules()

    data_root = tiny.make_data(name, str(tmp_path / 'data'))
    cfg = tiny.tiny_config(name, data_root, str(tmp_path / 'work'))
    runner = Runner.from_cfg(cfg)
    assert isinstance(runner.model.backbone, SkySenseV2SingleModal)
    assert runner.model.backbone.embed_dims == 32  # the tiny preset, not a stand-in
    runner.train()
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss)
    metrics = runner.test()
    for key in tiny.METRICS[name]:
        assert key in metrics, f'{name}: {key} not in {sorted(metrics)}'
        assert math.isfinite(float(metrics[key]))
        assert 0.0 <= float(metrics[key]) <= 100.0


@pytest.mark.parametrize(
    'variant, base_name, base_ratio, ratio',
    [
        (
            'linear_skysense-v2-huge_2xb32-20k_aid-tr50.py',
            'linear_skysense-v2-huge_2xb32-20k_aid-tr20.py',
            0.2,
            0.5,
        ),
        (
            'linear_skysense-v2-huge_2xb32-20k_resisc45-tr20.py',
            'linear_skysense-v2-huge_2xb32-20k_resisc45-tr10.py',
            0.1,
            0.2,
        ),
        (
            'linear_skysense-v2-huge_1xb64-20k_ben-s2-tr100.py',
            'linear_skysense-v2-huge_1xb64-20k_ben-s2-tr10.py',
            0.1,
            1.0,
        ),
    ],
)
def test_training_ratio_variants(variant, base_name, base_ratio, ratio):
    from mmengine.config import Config

    cfg = Config.fromfile(str(tiny.ROOT / 'configs' / 'skysense_v2_cls' / variant))
    base = Config.fromfile(str(tiny.ROOT / 'configs' / 'skysense_v2_cls' / base_name))
    assert base.train_dataloader.dataset.train_ratio == base_ratio
    assert cfg.train_dataloader.dataset.train_ratio == ratio
    assert cfg.train_dataloader.dataset.seed == base.train_dataloader.dataset.seed
    if 'ben-s2' not in variant:
        # the test split is the complement of the same draw
        assert cfg.test_dataloader.dataset.train_ratio == ratio
        assert cfg.val_dataloader.dataset.train_ratio == ratio
