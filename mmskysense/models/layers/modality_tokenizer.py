"""Modality tokenizer (SkySense V2, section 3.1.1).

Each modality owns a tokenizer: the input is cut into non-overlapping 4x4 patches and every patch
is embedded linearly into C channels. The linear embedding of a flattened patch is exactly a
convolution with kernel = stride = patch size, followed here by a LayerNorm (as the Swin V2 patch
embedding of SkySense V1, so V1 weights load into the HR tokenizer unchanged).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmskysense.registry import MODELS


@MODELS.register_module()
class ModalityTokenizer(nn.Module):
    """Patchify a ``B x C_in x H x W`` image into ``B x (h*w) x C`` tokens.

    Section 3.1.1: "the input data is first divided into non-overlapping 4x4 patches.
    Subsequently, a linear embedding layer is applied". Inputs whose size is not a multiple of
    the patch size are zero-padded at the bottom and right (as mmpretrain's ``PatchEmbed``).

    Args:
        in_channels: number of bands of the modality.
        embed_dims: token width C.
        patch_size: patch side (4 in the paper).
        name: modality name, only used in error messages.
    """

    def __init__(
        self, in_channels: int, embed_dims: int, patch_size: int = 4, name: str = ''
    ) -> None:
        super().__init__()
        if in_channels <= 0:
            raise ValueError(f'ModalityTokenizer: in_channels must be positive, got {in_channels}')
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.patch_size = patch_size
        self.name = name
        self.proj = nn.Conv2d(in_channels, embed_dims, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dims)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Return the tokens ``B x (h*w) x C`` and the token grid ``(h, w)``."""
        if x.dim() != 4:
            raise ValueError(
                f'modality {self.name!r}: tokenizer expects a 4-D tensor B x C x H x W, '
                f'got shape {tuple(x.shape)}'
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f'modality {self.name!r}: expected {self.in_channels} input channels '
                f'(modalities[{self.name!r}].in_channels), got {x.shape[1]} '
                f'(input shape {tuple(x.shape)})'
            )
        p = self.patch_size
        pad_b = (p - x.shape[2] % p) % p
        pad_r = (p - x.shape[3] % p) % p
        if pad_b or pad_r:
            x = F.pad(x, (0, pad_r, 0, pad_b))
        x = self.proj(x)
        hw = (x.shape[2], x.shape[3])
        x = self.norm(x.flatten(2).transpose(1, 2))
        return x, hw
