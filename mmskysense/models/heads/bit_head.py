"""The bitemporal image transformer (BIT) head of Chen, Qi and Shi, "Remote sensing image change
detection with transformers" (TGRS 2021), the paper's "basic change detector" of Table 2c.

Written from the paper's description (section III):

1. per date, the backbone's selected stages are resized to the finest one and projected to
   ``C`` channels: ``X_i`` (HW x C), with weights shared by the dates;
2. **semantic tokenizer**: ``L`` spatial attention maps ``A_i = softmax_HW(conv1x1(X_i))``
   pool ``X_i`` into tokens ``T_i = A_i^T X_i`` (L x C);
3. **transformer encoder** over the ``2L`` tokens of both dates at once (with a learnable
   positional embedding), so that tokens exchange context across space and time;
4. **transformer decoder** (Siamese, shared weights): each date's pixels ``X_i`` are queries
   that cross-attend to that date's refined tokens, giving ``X_i'`` (no pixel self-attention);
5. **prediction head**: ``|X_1' - X_2'|``, upsampled, two 3x3 convolutions to class logits.

Positional embedding of step 3: ``'learned'`` gives each of the 2L tokens its own vector, as
BIT does, which tells date 1 from date 2; ``'shared'`` gives token ``l`` of both dates the same
vector, which makes the whole head symmetric in the dates (swapping them changes nothing);
None uses none (also symmetric).
"""

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model.weight_init import trunc_normal_
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from mmskysense.registry import MODELS


class TokenAttention(nn.Module):
    """Multi-head attention of ``x`` over ``context``, with an inner width of heads x head_dim."""

    def __init__(self, dim: int, num_heads: int, head_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, head_dim
        inner = num_heads * head_dim
        self.q = nn.Linear(dim, inner, bias=False)
        self.kv = nn.Linear(dim, 2 * inner, bias=False)
        self.proj = nn.Linear(inner, dim)
        self.drop = drop

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        b, n, _ = x.shape
        m = context.shape[1]
        q = self.q(x).view(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(context).view(b, m, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.drop if self.training else 0.0)
        return self.proj(out.transpose(1, 2).reshape(b, n, -1))


class TokenMLP(nn.Sequential):
    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(drop),
            nn.Linear(hidden, dim),
            nn.Dropout(drop),
        )


class TokenEncoderLayer(nn.Module):
    """Pre-norm self-attention + MLP over the tokens of both dates (step 3)."""

    def __init__(
        self, dim: int, num_heads: int, head_dim: int, mlp_ratio: float, drop: float
    ) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = TokenAttention(dim, num_heads, head_dim, drop)
        self.mlp = TokenMLP(dim, int(dim * mlp_ratio), drop)

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.norm1(tokens)
        tokens = tokens + self.attn(x, x)
        return tokens + self.mlp(self.norm2(tokens))


class PixelDecoderLayer(nn.Module):
    """Pre-norm cross-attention of pixels (queries) to tokens, then an MLP (step 4)."""

    def __init__(
        self, dim: int, num_heads: int, head_dim: int, mlp_ratio: float, drop: float
    ) -> None:
        super().__init__()
        self.norm_q, self.norm_kv, self.norm2 = (nn.LayerNorm(dim) for _ in range(3))
        self.attn = TokenAttention(dim, num_heads, head_dim, drop)
        self.mlp = TokenMLP(dim, int(dim * mlp_ratio), drop)

    def forward(self, pixels: Tensor, tokens: Tensor) -> Tensor:
        pixels = pixels + self.attn(self.norm_q(pixels), self.norm_kv(tokens))
        return pixels + self.mlp(self.norm2(pixels))


@MODELS.register_module()
class BITHead(BaseDecodeHead):
    """BIT change head on the two dates' maps fused by ``SiameseFusionNeck(policy='concat')``.

    Args:
        in_channels: channels of the fused maps it receives, one per ``in_index`` (2 x the
            backbone's stage channels: date 1's then date 2's).
        channels: token / pixel width ``C`` of the transformer (BIT: 32).
        in_index: stages used (resized to the first one's grid).
        num_tokens: ``L`` semantic tokens per date (BIT: 4).
        enc_depth, enc_heads, enc_head_dim: transformer encoder (BIT: 1 layer, 8 x 64).
        dec_depth, dec_heads, dec_head_dim: transformer decoder (BIT: 8 layers, 8 x 8).
        mlp_ratio: MLP width of both as a multiple of ``C`` (BIT: 2).
        pos_embed: ``'learned'`` (BIT), ``'shared'`` or None (see the module docstring).
        drop_rate: dropout inside the transformer.
        upsample: factor by which the difference map is upsampled before the classifier.
        kwargs: ``BaseDecodeHead`` arguments (``num_classes``, ``loss_decode``, ``norm_cfg``...).
    """

    POS_EMBED = ('learned', 'shared', None)

    def __init__(
        self,
        in_channels: Sequence[int],
        channels: int = 32,
        in_index: Sequence[int] = (0, 1, 2, 3),
        num_tokens: int = 4,
        enc_depth: int = 1,
        enc_heads: int = 8,
        enc_head_dim: int = 64,
        dec_depth: int = 8,
        dec_heads: int = 8,
        dec_head_dim: int = 8,
        mlp_ratio: float = 2.0,
        pos_embed: str | None = 'learned',
        drop_rate: float = 0.0,
        upsample: int = 4,
        **kwargs,
    ) -> None:
        super().__init__(
            in_channels=list(in_channels),
            channels=channels,
            in_index=list(in_index),
            input_transform='multiple_select',
            **kwargs,
        )
        odd = [c for c in self.in_channels if c % 2]
        if odd:
            raise ValueError(
                f'BITHead takes maps of both dates concatenated (even channels), '
                f'got in_channels {self.in_channels}: use '
                'SiameseFusionNeck(policy="concat")'
            )
        if pos_embed not in self.POS_EMBED:
            raise ValueError(f'pos_embed must be one of {self.POS_EMBED}, got {pos_embed!r}')
        self.num_tokens = num_tokens
        self.upsample = upsample
        self.pos_embed_mode = pos_embed
        per_date = sum(c // 2 for c in self.in_channels)
        self.project = ConvModule(
            per_date,
            channels,
            1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg,
        )
        self.token_attention = nn.Conv2d(channels, num_tokens, 1, bias=False)
        if pos_embed is not None:
            rows = 2 * num_tokens if pos_embed == 'learned' else num_tokens
            self.pos_embed = nn.Parameter(torch.zeros(1, rows, channels))
            trunc_normal_(self.pos_embed, std=0.02)
        self.encoder = nn.ModuleList(
            TokenEncoderLayer(channels, enc_heads, enc_head_dim, mlp_ratio, drop_rate)
            for _ in range(enc_depth)
        )
        self.decoder = nn.ModuleList(
            PixelDecoderLayer(channels, dec_heads, dec_head_dim, mlp_ratio, drop_rate)
            for _ in range(dec_depth)
        )
        self.classifier = ConvModule(
            channels,
            channels,
            3,
            padding=1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg,
        )

    def _split_dates(self, inputs: list[Tensor]) -> tuple[Tensor, Tensor]:
        feats = self._transform_inputs(inputs)
        size = feats[0].shape[2:]
        dates: tuple[list[Tensor], list[Tensor]] = ([], [])
        for f in feats:
            if f.shape[2:] != size:
                f = F.interpolate(f, size=size, mode='bilinear', align_corners=self.align_corners)
            a, b = f.chunk(2, dim=1)
            dates[0].append(a)
            dates[1].append(b)
        return torch.cat(dates[0], dim=1), torch.cat(dates[1], dim=1)

    def semantic_tokens(self, x: Tensor) -> Tensor:
        """``T = softmax_HW(conv(X))^T X``: ``B x C x H x W`` -> ``B x L x C`` (step 2)."""
        attn = self.token_attention(x).flatten(2).softmax(dim=-1)
        return torch.einsum('bln,bcn->blc', attn, x.flatten(2))

    def _encode(self, t1: Tensor, t2: Tensor) -> tuple[Tensor, Tensor]:
        tokens = torch.cat([t1, t2], dim=1)
        if self.pos_embed_mode == 'learned':
            tokens = tokens + self.pos_embed
        elif self.pos_embed_mode == 'shared':
            tokens = tokens + self.pos_embed.repeat(1, 2, 1)
        for layer in self.encoder:
            tokens = layer(tokens)
        return tokens[:, : self.num_tokens], tokens[:, self.num_tokens :]

    def _decode(self, x: Tensor, tokens: Tensor) -> Tensor:
        b, c, h, w = x.shape
        pixels = x.flatten(2).transpose(1, 2)
        for layer in self.decoder:
            pixels = layer(pixels, tokens)
        return pixels.transpose(1, 2).reshape(b, c, h, w)

    def forward(self, inputs: list[Tensor]) -> Tensor:
        x1, x2 = self._split_dates(inputs)
        x1, x2 = self.project(x1), self.project(x2)
        t1, t2 = self._encode(self.semantic_tokens(x1), self.semantic_tokens(x2))
        diff = (self._decode(x1, t1) - self._decode(x2, t2)).abs()
        if self.upsample > 1:
            diff = F.interpolate(
                diff, scale_factor=self.upsample, mode='bilinear', align_corners=self.align_corners
            )
        return self.cls_seg(self.classifier(diff))


__all__ = ['BITHead']
