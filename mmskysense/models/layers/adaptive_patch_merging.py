"""Adaptive Patch Merging, APM (SkySense V2, section 3.1.1).

APM sits before stages 2, 3 and 4 and decides per modality whether to reduce resolution:

* HR optical (``kind='hr'``): concatenate each 2x2 neighbourhood into a 4c vector and project it
  linearly to 2c (tokens / 4), then LayerNorm (the Swin V2 patch merging, norm after reduction).
  The 4c vector is ordered channel-major, ``[x_c(0,0), x_c(0,1), x_c(1,0), x_c(1,1)]`` for
  c = 0..C-1 (the order of ``nn.Unfold`` in mmpretrain's ``PatchMerging``), so V1 weights load as
  they are.
* MS / SAR (``kind='ms'``): keep the resolution and project c -> 2c with the same weights averaged
  over the four 2x2 positions ("a linear projection with averaging the weights across the input
  dimensions"):

      W_ms[o, c] = 1/4 * sum_{p=0..3} W_hr[o, 4c + p]                      (APM, MS/SAR branch)

  so for a map that is constant over a 2x2 neighbourhood the MS reduction equals 1/4 of the HR
  reduction of that neighbourhood; the LayerNorm that follows removes that factor (up to its eps),
  and both branches give the same token.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmskysense.registry import MODELS

from .onednn_linear import linear

KINDS = ('hr', 'ms')


@MODELS.register_module()
class AdaptivePatchMerging(nn.Module):
    """Resolution-adaptive patch merging shared by all modalities.

    Args:
        in_channels: c.
        out_channels: output channels (2c in the backbone).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.reduction = nn.Linear(4 * in_channels, out_channels, bias=False)
        self.norm = nn.LayerNorm(out_channels)

    def ms_weight(self) -> torch.Tensor:
        """``W_ms``: the reduction averaged over the four 2x2 positions (``out x in``)."""
        return self.reduction.weight.view(self.out_channels, self.in_channels, 4).mean(-1)

    def forward(
        self, x: torch.Tensor, hw_shape: tuple[int, int], kind: str = 'hr'
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        """``B x (H*W) x c`` tokens -> ``(B x (H'*W') x 2c, (H', W'))``."""
        b, length, c = x.shape
        h, w = hw_shape
        if c != self.in_channels or length != h * w:
            raise ValueError(
                f'AdaptivePatchMerging: expected B x {h * w} x {self.in_channels} '
                f'tokens for hw_shape {hw_shape}, got {tuple(x.shape)}'
            )
        if kind == 'ms':
            return self.norm(linear(x, self.ms_weight())), (h, w)
        if kind != 'hr':
            raise ValueError(f'AdaptivePatchMerging: kind must be one of {KINDS}, got {kind!r}')
        x = x.view(b, h, w, c)
        if h % 2 or w % 2:
            # Odd maps: zero-pad bottom/right as mmpretrain's 'corner' padding.
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
            h, w = h + h % 2, w + w % 2
        # b, h/2, 2, w/2, 2, c -> b, h/2, w/2, c, 2, 2: channel-major 4c vector (Unfold order).
        x = x.view(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 5, 2, 4)
        x = x.reshape(b, (h // 2) * (w // 2), 4 * c)
        return self.norm(linear(x, self.reduction.weight)), (h // 2, w // 2)
