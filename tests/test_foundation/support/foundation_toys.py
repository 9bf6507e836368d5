"""A toy regression task for the foundation tests (imported by configs through custom_imports).

It exercises the Runner, the launchers and checkpointing without depending on any model of the
paper, so that infrastructure failures are not confused with model failures.
"""

import os.path as osp

import torch
import torch.nn as nn
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from mmskysense.registry import DATASETS, HOOKS, MODELS


@MODELS.register_module()
class ToyRegressor(BaseModel):
    def __init__(self, in_dims: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dims, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        pred = self.net(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((pred - data_samples) ** 2).mean())
        return pred


@DATASETS.register_module()
class ToyRegressionDataset(Dataset):
    def __init__(self, num_samples: int = 64, in_dims: int = 8, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(num_samples, in_dims, generator=g)
        w = torch.randn(in_dims, generator=g)
        self.y = self.x @ w + 0.01 * torch.randn(num_samples, generator=g)
        self.metainfo = dict()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: int) -> dict:
        return dict(inputs=self.x[idx], data_samples=self.y[idx])


@HOOKS.register_module()
class DumpRankStateHook(Hook):
    """Writes what each rank holds at the start and at the end of training."""

    def _dump(self, runner, name: str) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        state = dict(
            iter=runner.iter,
            world_size=runner.world_size,
            params={k: v.detach().clone() for k, v in model.state_dict().items()},
            optimizer=runner.optim_wrapper.state_dict(),
        )
        torch.save(state, osp.join(runner.work_dir, f'{name}_rank{get_rank()}.pth'))

    def before_train(self, runner) -> None:
        self._dump(runner, 'start')

    def after_train(self, runner) -> None:
        self._dump(runner, 'end')


@HOOKS.register_module()
class InterruptAtIterHook(Hook):
    """Kills the run after iteration ``at`` (after its checkpoint is saved), like a lost job."""

    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW)

    def __init__(self, at: int) -> None:
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.at:
            raise SystemExit(f'interrupted after iteration {self.at}')
