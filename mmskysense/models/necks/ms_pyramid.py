"""A feature pyramid from multispectral maps that all have stride 4.

For ``kind='ms'`` modalities the backbone keeps the token grid at stride 4 through every stage
(Adaptive Patch Merging widens channels without merging tokens), while UperNet expects the four
inputs at strides 4/8/16/32. Stage ``i`` is therefore resampled by ``scales[i]`` (default 1,
1/2, 1/4, 1/8): the shallow, detailed map stays at full resolution and the deep map, which
feeds UperNet's pyramid pooling, is the coarsest, as in the HR branch. ``mode='pool'`` max-pools
(no parameters, the pretrained features pass unchanged); ``mode='conv'`` learns the resampling
with stride-2 convolutions (or transposed convolutions for scales above 1).
"""

import math
from collections.abc import Sequence

import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmskysense.registry import MODELS


def _power_of_two(scale: float) -> int:
    """log2 of ``scale``; the pyramid only resamples by powers of two."""
    exp = math.log2(scale)
    if abs(exp - round(exp)) > 1e-6:
        raise ValueError(f'scales must be powers of two, got {scale}')
    return int(round(exp))


def _conv_block(channels: int, down: bool) -> nn.Module:
    conv = (
        nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False)
        if down
        else nn.ConvTranspose2d(channels, channels, 2, stride=2, bias=False)
    )
    return nn.Sequential(conv, nn.GroupNorm(math.gcd(32, channels), channels), nn.GELU())


@MODELS.register_module()
class MSFeaturePyramid(BaseModule):
    """Resample equal-stride stage maps into a pyramid for UperNet-like heads.

    Args:
        in_channels: channels of each input map (C, 2C, 4C, 8C for the backbone).
        scales: resampling factor of each map (powers of two; 1 keeps it).
        mode: ``'pool'`` (max-pool down, bilinear up) or ``'conv'`` (learned).
        init_cfg: mmengine init config.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        scales: Sequence[float] = (1, 0.5, 0.25, 0.125),
        mode: str = 'pool',
        init_cfg=None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != len(scales):
            raise ValueError(f'{len(in_channels)} in_channels but {len(scales)} scales')
        if mode not in ('pool', 'conv'):
            raise ValueError(f'mode must be "pool" or "conv", got {mode!r}')
        self.in_channels = list(in_channels)
        self.exponents = [_power_of_two(s) for s in scales]
        self.mode = mode
        self.resamplers = nn.ModuleList()
        for channels, exp in zip(self.in_channels, self.exponents):
            if mode == 'conv' and exp != 0:
                blocks = [_conv_block(channels, down=exp < 0) for _ in range(abs(exp))]
                self.resamplers.append(nn.Sequential(*blocks))
            else:
                self.resamplers.append(nn.Identity())

    def _resample(self, index: int, x: Tensor) -> Tensor:
        exp = self.exponents[index]
        if self.mode == 'conv' or exp == 0:
            return self.resamplers[index](x)
        if exp < 0:
            k = 2 ** (-exp)
            # ceil_mode keeps the border of maps not divisible by k
            return F.max_pool2d(x, kernel_size=k, stride=k, ceil_mode=True)
        return F.interpolate(x, scale_factor=2**exp, mode='bilinear', align_corners=False)

    def forward(self, inputs: Sequence[Tensor]) -> tuple[Tensor, ...]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'expected {len(self.in_channels)} maps, got {len(inputs)}')
        outs: list[Tensor] = [self._resample(i, x) for i, x in enumerate(inputs)]
        return tuple(outs)
