"""Pooling per-date feature maps over time, ignoring padded dates.

The backbone maps a ``B x T x C x H x W`` series to per-date maps ``B x T x C_i x h x w``; task
heads (UperNet, a linear classifier) take one map per stage. Dates that are padding
(``date_mask`` False) must not leak into the result, so every mode is masked:
``'mean'`` averages the real dates, ``'max'`` takes the per-feature maximum over them, and
``'attention'`` learns a per-pixel score per date (a 1x1 convolution per stage, zero-initialised
so that it starts as the mean) and takes the softmax-weighted sum over the real dates.
"""

from collections.abc import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmskysense.registry import MODELS


@MODELS.register_module()
class TemporalPooling(BaseModule):
    """Masked pooling of ``B x T x C x h x w`` maps over ``T``.

    Args:
        mode: ``'mean'``, ``'max'`` or ``'attention'``.
        in_channels: channels per stage; required for ``'attention'``.
        init_cfg: mmengine init config.
    """

    MODES = ('mean', 'max', 'attention')

    def __init__(
        self, mode: str = 'mean', in_channels: Sequence[int] | None = None, init_cfg=None
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, got {mode!r}')
        self.mode = mode
        self.in_channels = list(in_channels) if in_channels else None
        if mode == 'attention':
            if not in_channels:
                raise ValueError('TemporalPooling(mode="attention") needs in_channels')
            self.scorers = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in in_channels)
            for conv in self.scorers:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)

    def init_weights(self) -> None:
        # keep the zero init of the scorers (uniform attention) unless an init_cfg says otherwise
        if self.init_cfg is not None:
            super().init_weights()

    def _pool(self, index: int, x: Tensor, mask: Tensor) -> Tensor:
        b, t = x.shape[:2]
        m = mask.to(x.dtype).view(b, t, 1, 1, 1)
        if self.mode == 'mean':
            return (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        if self.mode == 'max':
            filled = x.masked_fill(m == 0, float('-inf')).amax(1)
            # a sample without any real date pools to zeros instead of -inf
            return torch.where(torch.isfinite(filled), filled, torch.zeros_like(filled))
        scores = self.scorers[index](x.flatten(0, 1)).view(b, t, 1, *x.shape[-2:])
        # a finite fill keeps gradients finite; multiplying by m zeroes padded dates (and whole
        # samples without a real date)
        weights = torch.softmax(scores.masked_fill(m == 0, -1e4), dim=1) * m
        return (weights * x).sum(1)

    def pool_stage(self, index: int, x: Tensor, date_mask: Tensor | None = None) -> Tensor:
        """Pool one ``B x T x C x h x w`` map of stage ``index`` (with that stage's scorer);
        a ``B x C x h x w`` map is returned as it is."""
        if x.dim() == 4:  # already single-date
            return x
        if x.dim() != 5:
            raise ValueError(f'TemporalPooling expects B x T x C x h x w maps, got {x.shape}')
        mask = (
            torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
            if date_mask is None
            else date_mask.to(x.device).bool()
        )
        if mask.shape != x.shape[:2]:
            raise ValueError(
                f'date_mask {tuple(mask.shape)} does not match maps {tuple(x.shape[:2])}'
            )
        return self._pool(index, x, mask)

    def forward(
        self, inputs: Sequence[Tensor], date_mask: Tensor | None = None
    ) -> tuple[Tensor, ...]:
        return tuple(self.pool_stage(i, x, date_mask) for i, x in enumerate(inputs))
