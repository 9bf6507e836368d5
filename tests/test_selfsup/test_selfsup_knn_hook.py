"""KNNEvalHook: when it evaluates, which network, what it writes to the visualizer, against a
k-NN vote computed by hand on the same scene tiles."""

import logging
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from mmskysense.datasets.geo.synthetic import generate_geo_dataset
from mmskysense.engine.hooks import KNNEvalHook
from mmskysense.evaluation import load_scenes


class MeanColour(nn.Module):
    """A 'backbone' whose pooled feature is the tile's mean normalised colour (plus a bias, so
    that the student and the teacher differ)."""

    def __init__(self, bias: float) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([bias, 0.0, 0.0]))

    def forward(self, x):
        return dict(hr=(x['hr'] + self.bias.view(1, 3, 1, 1),))


class Recorder:
    def __init__(self):
        self.calls = []

    def add_scalars(self, scalars, step):
        self.calls.append((step, dict(scalars)))


@pytest.fixture(scope='module')
def scene_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('knn')
    generate_geo_dataset(
        str(root),
        num_samples=6,
        seed=5,
        hr_size=128,
        num_s2_dates=1,
        num_s1_dates=1,
        nodata=False,
        hr_overviews=False,
        write_index=False,
    )
    return str(root)


def _runner(max_iters):
    model = SimpleNamespace(
        teacher=nn.ModuleDict(dict(backbone=MeanColour(0.0))),
        backbone=MeanColour(50.0),
        data_preprocessor=SimpleNamespace(hr_mean=torch.zeros(3, 1, 1), hr_std=torch.ones(3, 1, 1)),
    )
    return SimpleNamespace(
        model=model,
        iter=0,
        max_iters=max_iters,
        visualizer=Recorder(),
        logger=logging.getLogger('knn-hook-test'),
    )


def _vote(scenes, bias, k=20, temperature=0.07):
    """DINO's weighted k-NN by hand: first half of the samples as reference."""
    n = len(scenes) // 2

    def feats(part):  # noqa: E306
        out = []
        for _, tiles, _ in part:
            for t in tiles:
                f = t.astype(np.float64).mean((1, 2)) + np.array([bias, 0, 0])
                out.append(f / np.linalg.norm(f))
        return np.array(out)

    ref, test = feats(scenes[:n]), feats(scenes[n:])
    ref_y = np.concatenate([s[2] for s in scenes[:n]])
    test_y = np.concatenate([s[2] for s in scenes[n:]])
    correct = 0
    for f, y in zip(test, test_y):
        sim = ref @ f
        top = np.argsort(-sim)[:k]
        votes = {}
        for i in top:
            votes[ref_y[i]] = votes.get(ref_y[i], 0.0) + math.exp(sim[i] / temperature)
        correct += int(max(votes, key=votes.get) == y)
    return 100 * correct / len(test_y)


def test_evaluates_before_training_every_interval_and_at_the_end(scene_root):
    hook = KNNEvalHook(scene_root, interval=2, name='knn_demo', crop_size=32)
    runner = _runner(max_iters=5)
    hook.before_train(runner)
    for i in range(5):
        runner.iter = i
        hook.after_train_iter(runner, i)
    steps = [step for step, _ in runner.visualizer.calls]
    assert steps == [0, 2, 4, 5]
    expected = _vote(load_scenes(scene_root, 32), bias=0.0)
    for _, scalars in runner.visualizer.calls:
        assert set(scalars) == {
            'knn_demo/top1',
            'knn_demo/majority',
            'knn_demo/feat_erank',
            'knn_demo/feat_mean_cos',
        }
        assert scalars['knn_demo/top1'] == pytest.approx(expected, abs=1e-4)
        assert 1.0 <= scalars['knn_demo/feat_erank'] <= 3.0 + 1e-6  # 3-channel features
    assert hook.history[-1]['step'] == 5


def test_watches_the_network_it_is_told_to(scene_root):
    scenes = load_scenes(scene_root, 32)
    teacher, student = _vote(scenes, 0.0), _vote(scenes, 50.0)
    assert teacher != student  # the two stubs are told apart by the vote itself
    for network, expected in (('teacher', teacher), ('student', student)):
        runner = _runner(max_iters=1)
        KNNEvalHook(scene_root, crop_size=32, network=network).before_train(runner)
        assert runner.visualizer.calls[0][1]['knn/top1'] == pytest.approx(expected, abs=1e-4)


def test_bad_settings_and_missing_scenes_are_named(tmp_path):
    with pytest.raises(ValueError, match='interval'):
        KNNEvalHook(str(tmp_path), interval=0)
    with pytest.raises(ValueError, match='network'):
        KNNEvalHook(str(tmp_path), network='ema')
    with pytest.raises(ValueError, match='train_frac'):
        KNNEvalHook(str(tmp_path), train_frac=1.0)
    with pytest.raises(FileNotFoundError, match='no sample folders'):
        KNNEvalHook(str(tmp_path)).before_train(_runner(1))
