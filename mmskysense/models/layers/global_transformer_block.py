"""Global (vanilla) transformer block, used in stages 3-4 of the unified backbone (section 3.1.1).

The paper replaces window attention by global self-attention in the last two stages, where maps
are small ("Transformer Blocks (TB) [16]", the ViT block):

    x = x + DropPath(MSA(LN(x))),    x = x + DropPath(FFN(LN(x)))

with ``MSA`` the multi-head scaled dot-product attention ``softmax(q k^T / sqrt(d)) v`` computed by
``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-efficient kernels where the
device has them). Modality prompt tokens (eq. 1) simply extend the token sequence.
"""

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from mmskysense.registry import MODELS

from .feed_forward import DropPath, FeedForward
from .mixture_of_experts import MixtureOfExperts
from .onednn_linear import linear


@MODELS.register_module()
class GlobalSelfAttention(nn.Module):
    """Multi-head self-attention over all tokens of a sequence, via SDPA."""

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(
                f'GlobalSelfAttention: embed_dims={embed_dims} is not divisible by '
                f'num_heads={num_heads}'
            )
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: ``B x N x C``; ``attn_mask``: optional SDPA mask broadcastable to
        ``B x heads x N x N`` (bool: True = may attend)."""
        b, n, c = x.shape
        qkv = linear(x, self.qkv.weight, self.qkv.bias)
        qkv = qkv.view(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.attn_drop if self.training else 0.0
        )
        out = linear(out.transpose(1, 2).reshape(b, n, c), self.proj.weight, self.proj.bias)
        return self.proj_drop(out)


@MODELS.register_module()
class GlobalTransformerBlock(nn.Module):
    """Pre-norm transformer block with global self-attention.

    Args:
        embed_dims: channels C.
        num_heads: attention heads.
        mlp_ratio: FFN hidden width / C.
        drop_path: stochastic depth rate of this block.
        ffn: a ready FFN module (e.g. :class:`MixtureOfExperts`); default a dense FFN.
        with_cp: activation checkpointing of the block.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        ffn: nn.Module | None = None,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.with_cp = with_cp
        self.norm1 = nn.LayerNorm(embed_dims)
        self.attn = GlobalSelfAttention(embed_dims, num_heads)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.ffn = ffn if ffn is not None else FeedForward(embed_dims, int(embed_dims * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def _forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None):
        x = x + self.drop_path(self.attn(self.norm1(x), attn_mask))
        stats = None
        if isinstance(self.ffn, MixtureOfExperts):
            y, loss, counts = self.ffn(self.norm2(x))
            stats = (loss, counts)
        else:
            y = self.ffn(self.norm2(x))
        return x + self.drop_path(y), stats

    def _forward_many(self, *xs: torch.Tensor):
        """:meth:`_forward` of each sequence of ``xs``: the token-wise layers (norms, qkv,
        output projection, FFN or MoE) run once over the tokens of every sequence, the
        attention once per sequence length (sequences of one length are more rows of one
        batch, each still attending within itself)."""
        c, heads = self.embed_dims, self.attn.num_heads
        sizes = [x.shape[0] * x.shape[1] for x in xs]
        attn = self.attn
        qkv = linear(
            self.norm1(torch.cat([x.reshape(-1, c) for x in xs])), attn.qkv.weight, attn.qkv.bias
        )
        qkv = [t.view(x.shape[0], x.shape[1], 3 * c) for t, x in zip(qkv.split(sizes), xs)]
        by_length: dict[int, list[int]] = {}
        for i, x in enumerate(xs):
            by_length.setdefault(x.shape[1], []).append(i)
        drop = self.attn.attn_drop if self.training else 0.0
        att = [None] * len(xs)
        for n, idx in by_length.items():
            rows = torch.cat([qkv[i] for i in idx]) if len(idx) > 1 else qkv[idx[0]]
            q, k, v = rows.view(-1, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4).unbind(0)
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
            out = out.transpose(1, 2).reshape(-1, c)
            for i, o in zip(idx, out.split([sizes[i] for i in idx]), strict=True):
                att[i] = o
        att = attn.proj_drop(linear(torch.cat(att), attn.proj.weight, attn.proj.bias))
        xs = [x + self.drop_path(a.view_as(x)) for x, a in zip(xs, att.split(sizes), strict=True)]
        normed = self.norm2(torch.cat([x.reshape(-1, c) for x in xs]))
        stats = None
        if isinstance(self.ffn, MixtureOfExperts):
            outs = self.ffn(list(normed.split(sizes)))  # one dispatch for every sequence
            ys, stats = [y for y, _, _ in outs], [(loss, cnt) for _, loss, cnt in outs]
        else:
            ys = self.ffn(normed).split(sizes)
        return tuple(x + self.drop_path(y.view_as(x)) for x, y in zip(xs, ys, strict=True)), stats

    def forward(
        self, x: torch.Tensor | Sequence[torch.Tensor], attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor | list[torch.Tensor]:
        """``B x N x C`` -> same shape. A list of sequences (of any lengths and batch sizes,
        e.g. one per modality) gives the list of their outputs: each is attended alone and the
        FFN runs once over all their tokens (fewer, larger products; a MoE reads its experts'
        weights once)."""
        if isinstance(x, (list, tuple)):
            return self._forward_list(list(x), attn_mask)
        self._check(x)
        if self.with_cp and x.requires_grad and torch.is_grad_enabled():
            x, stats = checkpoint(self._forward, x, attn_mask, use_reentrant=False)
        else:
            x, stats = self._forward(x, attn_mask)
        if stats is not None:
            self.ffn.record(*stats)
        return x

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.embed_dims:
            raise ValueError(
                f'GlobalTransformerBlock: expected B x N x {self.embed_dims} tokens, '
                f'got shape {tuple(x.shape)}'
            )

    def _forward_list(
        self, xs: list[torch.Tensor], attn_mask: torch.Tensor | None
    ) -> list[torch.Tensor]:
        if attn_mask is not None:
            raise ValueError('GlobalTransformerBlock: a list of sequences takes no attn_mask')
        if not xs:
            return []
        for x in xs:
            self._check(x)
        grad = torch.is_grad_enabled() and any(x.requires_grad for x in xs)
        if self.with_cp and grad:
            outs, stats = checkpoint(self._forward_many, *xs, use_reentrant=False)
        else:
            outs, stats = self._forward_many(*xs)
        for s in stats or ():
            self.ffn.record(*s)
        return list(outs)
