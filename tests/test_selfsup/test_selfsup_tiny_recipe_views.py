"""The learning tiny recipe cuts its HR views at the ground sampling of the k-NN tiles.

Issue 11 found that the tiny recipes shrank 162-256 px crops to 64 px views (2.5-4x) while the
k-NN tiles, and the fine-tuning crops, are at the data's own sampling; on scenes whose classes
are spatial periods that moves one class's period onto another's. The learning recipe draws its
views at native sampling and gives ITA the HR features alone (S2/S1 let it memorise the training
regions). These tests read the views its pipeline makes on demo-sized samples; a config that
shrinks the views again, or that packs S2/S1, fails them.
"""

from pathlib import Path

import pytest
from mmengine.config import Config

from mmskysense.datasets.geo.synthetic import generate_geo_dataset
from mmskysense.registry import DATASETS
from mmskysense.structures import GROUPS
from mmskysense.utils import register_all_modules

register_all_modules()

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / 'configs/skysense_v2/skysense-v2_tiny_1xb8-cpu-800it-hr-ita_geo-demo.py'
OLD_RECIPE = REPO / 'configs/skysense_v2/skysense-v2_tiny_1xb2-cpu-300it_geo-demo.py'
HR_GSD = 0.3125  # metres per HR pixel of the samples written below (the demo's)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('recipe_views')
    # the demo's sample size (256 px HR), which the recipe's scales are written for
    generate_geo_dataset(
        str(root), num_samples=2, seed=3, hr_size=256, hr_gsd=HR_GSD, num_s2_dates=3, num_s1_dates=2
    )
    return str(root)


def _views(config: Path, data_root: str, draws: int = 4) -> list[dict]:
    cfg = Config.fromfile(str(config))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = data_root
    dataset = DATASETS.build(ds_cfg)
    return [dataset[i % len(dataset)] for i in range(draws)]


def _pixel_scales(packed: dict) -> list[float]:
    """Per HR view: ground pixels of its box (at HR_GSD) per view pixel, by area."""
    out = []
    for group in GROUPS:
        views = getattr(packed['inputs'], group)
        hr = views.images['hr']  # V x 3 x H x W
        for box in views.view_boxes:
            ground_px = float((box[2] - box[0]) * (box[3] - box[1])) / HR_GSD**2
            out.append(ground_px / (hr.shape[-1] * hr.shape[-2]))
    return out


def test_the_learning_recipe_views_are_at_native_sampling(data_root):
    cfg = Config.fromfile(str(RECIPE))
    knn = [h for h in cfg.custom_hooks if h['type'] == 'KNNEvalHook']
    assert len(knn) == 1
    views = _views(RECIPE, data_root)
    for packed in views:
        assert knn[0]['crop_size'] == packed['inputs'].global_views.images['hr'].shape[-1]
        # the box's area equals the view's pixel count up to whole-pixel rounding of its sides
        # (the aspect ratio is drawn, so width and height differ by up to 4 / 3)
        for scale in _pixel_scales(packed):
            assert scale == pytest.approx(1.0, abs=0.05)


def test_the_learning_recipe_packs_hr_alone(data_root):
    cfg = Config.fromfile(str(RECIPE))
    assert tuple(cfg.model.fusion.modalities) == ('hr',)
    for packed in _views(RECIPE, data_root, draws=1):
        for group in GROUPS:
            views = getattr(packed['inputs'], group)
            assert set(views.images) == set(views.valid_masks) == {'hr'}


def test_the_check_sees_shrunk_views(data_root):
    # negative control: the earlier tiny recipe's views (global scale 0.4-1.0 of the sample)
    # shrink by 2.5-4x in each direction, i.e. 6-16 ground pixels per view pixel by area
    scales = [s for p in _views(OLD_RECIPE, data_root, draws=2) for s in _pixel_scales(p)]
    assert min(scales) > 1.5
