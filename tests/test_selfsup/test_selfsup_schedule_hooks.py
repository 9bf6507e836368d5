"""Teacher momentum and temperature schedules, and the hooks that apply them."""

import math
from types import SimpleNamespace

import pytest
from torch import nn

from mmskysense.engine.hooks import (
    TeacherMomentumHook,
    TeacherTemperatureHook,
    cosine_momentum,
    teacher_temperature,
)


def test_cosine_momentum_runs_from_base_to_end():
    assert cosine_momentum(0, 100, 0.99) == pytest.approx(0.99)
    assert cosine_momentum(100, 100, 0.99) == pytest.approx(1.0)
    assert cosine_momentum(50, 100, 0.99) == pytest.approx(0.995)
    assert cosine_momentum(25, 100, 0.9) == pytest.approx(1 - 0.1 * (math.cos(math.pi / 4) + 1) / 2)
    with pytest.raises(ValueError, match='max_iters'):
        cosine_momentum(1, 0, 0.99)


def test_teacher_temperature_warms_up_linearly():
    assert teacher_temperature(0, 0.04, 0.07, 30) == pytest.approx(0.04)
    assert teacher_temperature(15, 0.04, 0.07, 30) == pytest.approx(0.055)
    assert teacher_temperature(30, 0.04, 0.07, 30) == pytest.approx(0.07)
    assert teacher_temperature(5, 0.04, 0.07, 0) == pytest.approx(0.07)


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.teacher_temp = None
        self.momenta = []

    def update_teacher(self, m):
        self.momenta.append(m)


class _Hub:
    def __init__(self):
        self.scalars = {}

    def update_scalar(self, key, value):
        self.scalars[key] = value


def test_hooks_drive_the_model_from_the_iteration():
    model = _Model()
    runner = SimpleNamespace(model=model, iter=10, max_iters=40, message_hub=_Hub())
    TeacherTemperatureHook(0.04, 0.06, warmup_iters=20).before_train_iter(runner, 0)
    assert model.teacher_temp == pytest.approx(0.05)
    TeacherMomentumHook(0.9, 1.0).after_train_iter(runner, 0)
    expected = 1 - 0.1 * (math.cos(math.pi * 10 / 40) + 1) / 2
    assert model.momenta == [pytest.approx(expected)]
    assert runner.message_hub.scalars['train/teacher_momentum'] == pytest.approx(expected)
    with pytest.raises(AttributeError, match='update_teacher'):
        TeacherMomentumHook().after_train_iter(
            SimpleNamespace(model=nn.Linear(1, 1), iter=0, max_iters=1, message_hub=_Hub()), 0
        )
    with pytest.raises(ValueError, match='base_momentum'):
        TeacherMomentumHook(base_momentum=1.5)
