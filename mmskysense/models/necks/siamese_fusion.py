"""Fusing the two dates' feature maps, stage by stage, in a Siamese change detector.

The shared backbone encodes each date alone; this neck combines the two per-stage maps:

* ``'concat'``: ``[f1, f2]`` along channels (2C): both dates reach the head, which may compare
  them itself (the BIT head splits them again and differences its own refined features);
* ``'diff'``: ``f2 - f1`` (C): signed change, direction-aware (not symmetric in the dates);
* ``'abs_diff'``: ``|f1 - f2|`` (C): symmetric, swapping the dates gives the same output.
"""

from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor

from mmskysense.registry import MODELS


@MODELS.register_module()
class SiameseFusionNeck(BaseModule):
    """Fuse the per-stage maps of two dates.

    Args:
        policy: ``'concat'``, ``'diff'`` or ``'abs_diff'``.
        out_indices: stages to keep (None: all).
    """

    POLICIES = ('concat', 'diff', 'abs_diff')

    def __init__(
        self, policy: str = 'concat', out_indices: Sequence[int] | None = None, init_cfg=None
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if policy not in self.POLICIES:
            raise ValueError(f'policy must be one of {self.POLICIES}, got {policy!r}')
        self.policy = policy
        self.out_indices = tuple(out_indices) if out_indices is not None else None

    @property
    def symmetric(self) -> bool:
        """Whether the output is the same for the dates in either order."""
        return self.policy == 'abs_diff'

    def fuse(self, a: Tensor, b: Tensor) -> Tensor:
        if a.shape != b.shape:
            raise ValueError(
                f'the two dates gave maps of shapes {tuple(a.shape)} and {tuple(b.shape)}'
            )
        if self.policy == 'concat':
            return torch.cat([a, b], dim=1)
        if self.policy == 'diff':
            return b - a
        return (a - b).abs()

    def forward(self, feats1: Sequence[Tensor], feats2: Sequence[Tensor]) -> list[Tensor]:
        if len(feats1) != len(feats2):
            raise ValueError(f'date 1 has {len(feats1)} stages, date 2 {len(feats2)}')
        indices = self.out_indices if self.out_indices is not None else range(len(feats1))
        return [self.fuse(feats1[i], feats2[i]) for i in indices]
