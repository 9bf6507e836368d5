"""The teacher's targets do not collapse in a short run of the tiny CPU recipe.

A short run of what the Runner does with the demo's pretraining recipe (its model, optimiser
wrapper with clipping, teacher momentum and temperature schedules, its data pipeline on generated
GeoTIFFs), and at every step the target monitors of every DINO-style term (9 MGCL terms, the 2
QSACL directions): the entropy of the target rows divided by log K must stay away from 0 (one-hot
targets) and from 1 (uniform targets, log K), and the entropy of the batch-mean target away from
0 (every row on the same output). A positive control shows the check is not vacuous: the same run
with a teacher temperature above the student's gives uniform targets and fails it.
"""

from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper

from mmskysense.datasets.geo.synthetic import generate_geo_dataset
from mmskysense.engine.hooks.teacher_momentum_hook import cosine_momentum
from mmskysense.engine.hooks.teacher_temperature_hook import teacher_temperature
from mmskysense.registry import DATASETS, MODELS
from mmskysense.utils import register_all_modules

register_all_modules()

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / 'configs/skysense_v2/skysense-v2_tiny_1xb2-cpu-300it-nojitter_geo-demo.py'
TERMS = [f'mgcl_{g}_{m}' for g in ('pixel', 'object', 'image') for m in ('hr', 's2', 's1')] + [
    'qsacl_g2l',
    'qsacl_l2g',
]
# the band: far from both ends (a collapse drives the normalised entropy to 0 or to 1)
LOW, HIGH = 0.05, 0.95


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('collapse')
    generate_geo_dataset(str(root / 'geo'), num_samples=3, seed=0)
    text = root / 'text.pth'
    torch.save(
        dict(
            class_names=['water', 'vegetation', 'built_up', 'bare_soil'],
            embeddings=torch.randn(4, 16, generator=torch.Generator().manual_seed(0)),
        ),
        text,
    )
    return root, text


def _run(data, steps: int, teacher_temp: float | None = None) -> list[dict[str, float]]:
    """``steps`` iterations of the recipe; the target monitors of each step."""
    root, text = data
    cfg = Config.fromfile(str(RECIPE))
    cfg.model.ita_head.loss.text_embeddings = str(text)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = str(root / 'geo')
    dataset = DATASETS.build(dataset_cfg)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    hooks = {h['type']: h for h in cfg.custom_hooks}
    mom, temp = hooks['TeacherMomentumHook'], hooks['TeacherTemperatureHook']
    max_iters = cfg.train_cfg.max_iters
    order = torch.randint(0, len(dataset), (steps, 2), generator=torch.Generator().manual_seed(0))
    history = []
    for step in range(steps):
        model.teacher_temp = (
            teacher_temp
            if teacher_temp is not None
            else teacher_temperature(step, temp['start'], temp['end'], temp['warmup_iters'])
        )
        batch = pseudo_collate([dataset[i] for i in order[step].tolist()])
        losses = model.loss(**model.data_preprocessor(batch, True))
        total, _ = model.parse_losses(losses)
        optim.update_params(total)
        model.update_teacher(
            cosine_momentum(step, max_iters, mom['base_momentum'], mom['end_momentum'])
        )
        history.append(
            {k: v.item() for k, v in losses.items() if 'entropy' in k or k.endswith('/rows')}
        )
    return history


def _collapsed(history: list[dict[str, float]]) -> list[str]:
    bad = []
    for step, mon in enumerate(history):
        for term in TERMS:
            h, hm = mon[f'{term}/tgt_entropy'], mon[f'{term}/tgt_marginal_entropy']
            if mon[f'{term}/rows'] == 0:  # no data to judge: the recipe's views always overlap
                bad.append(f'step {step} {term}: no target rows')
            elif not LOW < h < HIGH or hm < LOW:
                bad.append(f'step {step} {term}: entropy {h:.3f}, of the mean {hm:.3f}')
    return bad


@pytest.mark.slow
def test_the_recipe_targets_stay_between_one_hot_and_uniform(data):
    history = _run(data, steps=12)
    assert len(history) == 12
    bad = _collapsed(history)
    assert not bad, 'teacher targets collapsed:\n' + '\n'.join(bad)


def test_the_check_catches_uniform_targets(data):
    # positive control: a teacher softer than the student (temperature 1 against 0.1) gives
    # targets near log K from the first step
    bad = _collapsed(_run(data, steps=1, teacher_temp=1.0))
    assert any('mgcl_image_hr' in b for b in bad) and any('qsacl' in b for b in bad)
