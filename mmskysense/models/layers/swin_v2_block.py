"""Swin Transformer V2 block, used in stages 1-2 of the unified backbone (section 3.1.1).

Liu et al., "Swin Transformer V2" (CVPR 2022):

* scaled cosine attention (SwinV2 eq. 2):
  ``Sim(q_i, k_j) = cos(q_i, k_j) / tau + B_ij``, with ``1 / tau = exp(min(logit_scale, log 100))``
  learned per head;
* log-spaced continuous position bias (SwinV2 eq. 3-4): ``B = 16 * sigmoid(G(dx', dy'))`` with a
  2-layer MLP ``G`` on ``d' = sign(d) * log2(1 + 8 |d| / (W - 1)) / log2(8)``;
* res-post-norm: ``x = x + LN(attn(x))``, ``x = x + LN(ffn(x))``;
* shifted windows with the cyclic-shift mask, and zero padding of maps whose size is not a window
  multiple.

The numerics (window order, mask, bias table and index, q/v bias, padding) follow mmpretrain's
``SwinBlockV2`` so that SkySense V1 / mmpretrain weights reproduce its outputs exactly.
"""

import math
import weakref
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from mmskysense.registry import MODELS

from .feed_forward import DropPath, FeedForward
from .mixture_of_experts import MixtureOfExperts, Permute
from .onednn_linear import linear


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """``B x H x W x C`` -> ``B x nW x ws*ws x C`` (windows in row-major order)."""
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, -1, window_size * window_size, c)


def window_reverse(windows: torch.Tensor, window_size: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``B x nW x ws*ws x C`` -> ``B x H x W x C``."""
    b, c = windows.shape[0], windows.shape[-1]
    x = windows.view(b, h // window_size, w // window_size, window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def shifted_window_order(
    h: int, w: int, window_size: int, shift_size: int, device: torch.device | None = None
) -> torch.Tensor:
    """Row-major positions in an ``h x w`` map of the tokens of its windows after the cyclic
    shift by ``-shift_size``, in window order (``nW*N``): ``x.flatten(1, 2)[:, order]`` is
    ``window_partition(torch.roll(x, (-shift, -shift), (1, 2)))``, one gather instead of a
    roll and a window copy."""
    rows = (torch.arange(h, device=device) + shift_size) % h
    cols = (torch.arange(w, device=device) + shift_size) % w
    grid = rows[:, None] * w + cols[None, :]
    return window_partition(grid.view(1, h, w, 1), window_size).reshape(-1)


def relative_coords_table(
    window_size: int, norm_size: int, device: torch.device | None = None
) -> torch.Tensor:
    """Log-spaced relative coordinates ``(2ws-1)^2 x 2`` (SwinV2 eq. 4).

    Offsets are normalised by ``norm_size - 1`` (the pre-training window), so a smaller effective
    window reuses the same bias for the same offset.
    """
    r = torch.arange(-(window_size - 1), window_size, dtype=torch.float32, device=device)
    table = torch.stack(torch.meshgrid(r, r, indexing='ij'), dim=-1)
    if norm_size > 1:
        table = table / (norm_size - 1)
    table = table * 8
    return (torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(8)).view(-1, 2)


def relative_position_index(window_size: int, device: torch.device | None = None) -> torch.Tensor:
    """``ws*ws x ws*ws`` index of each token pair into :func:`relative_coords_table`."""
    r = torch.arange(window_size, device=device)
    coords = torch.stack(torch.meshgrid(r, r, indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window_size - 1)
    return rel[..., 0] * (2 * window_size - 1) + rel[..., 1]


def shifted_window_mask(
    h: int, w: int, window_size: int, shift_size: int, device: torch.device
) -> torch.Tensor:
    """Additive mask ``nW x N x N`` (0 / -100) keeping attention inside each region after the
    cyclic shift, the regions being those of the Swin paper (and of mmpretrain)."""
    img = torch.zeros(h, w, device=device)
    slices = (slice(0, -window_size), slice(-window_size, -shift_size), slice(-shift_size, None))
    cnt = 0
    for hs in slices:
        for ws in slices:
            img[hs, ws] = cnt
            cnt += 1
    win = window_partition(img.view(1, h, w, 1), window_size).view(-1, window_size**2)
    diff = win.unsqueeze(1) - win.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


def _inverse_norm(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``1 / max(||x||, eps)`` over the last dim, kept for broadcasting: one reduction and one
    elementwise op instead of F.normalize's norm, clamp and division (and their backward)."""
    return x.square().sum(-1, keepdim=True).clamp_min(eps * eps).rsqrt()


@MODELS.register_module()
class SwinV2WindowAttention(nn.Module):
    """Window multi-head self-attention with scaled cosine similarity and continuous position
    bias (SwinV2 eq. 2-4); ``scaled_dot_product_attention`` on GPU, matmul + softmax on CPU.

    The bias tables of window sizes other than the configured one (maps smaller than a window)
    are built on the parameters' device once and cached; the bias and the shift mask enter the
    attention as broadcast views, never copied per image.

    Args:
        embed_dims: channels C.
        num_heads: attention heads.
        window_size: window side.
        pretrained_window_size: window of pre-training; offsets are normalised by it (0: by
            ``window_size``).
        cpb_hidden_dims: hidden width of the position-bias MLP.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        window_size: int,
        pretrained_window_size: int = 0,
        cpb_hidden_dims: int = 512,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(
                f'SwinV2WindowAttention: embed_dims={embed_dims} is not divisible '
                f'by num_heads={num_heads}'
            )
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.window_size = window_size
        self.norm_size = pretrained_window_size if pretrained_window_size > 0 else window_size
        self.attn_drop = attn_drop
        # None: SDPA on CUDA, matmul + softmax elsewhere; True / False force one path.
        self.fused_sdpa: bool | None = None
        self.cpb_mlp = nn.Sequential(
            nn.Linear(2, cpb_hidden_dims, bias=True),
            nn.ReLU(inplace=True),
            nn.Linear(cpb_hidden_dims, num_heads, bias=False),
        )
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(num_heads, 1, 1)))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=False)
        # Swin V2 has no key bias (it would cancel in the softmax).
        self.q_bias = nn.Parameter(torch.zeros(embed_dims))
        self.v_bias = nn.Parameter(torch.zeros(embed_dims))
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        # Not weights: rebuilt from the window size, hence left out of the state dict.
        self.register_buffer(
            'relative_coords_table',
            relative_coords_table(window_size, self.norm_size),
            persistent=False,
        )
        self.register_buffer(
            'relative_position_index', relative_position_index(window_size), persistent=False
        )
        # (window size, device) -> (table, index) of the other window sizes: not weights
        self._tables: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}
        # (key, parameters, bias) of the last bias computed without gradient (position_bias)
        self._bias_cache: tuple[tuple, tuple, torch.Tensor] | None = None

    def __getstate__(self) -> dict:
        # the cached bias holds weak references (not picklable) and is rebuilt on demand
        state = dict(super().__getstate__())
        state['_bias_cache'] = None
        return state

    def bias_tables(self, window_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Coordinates table and pair index of a window size, on the parameters' device."""
        if window_size == self.window_size:
            return self.relative_coords_table, self.relative_position_index
        device = self.logit_scale.device
        key = (window_size, str(device))
        if key not in self._tables:
            self._tables[key] = (
                relative_coords_table(window_size, self.norm_size, device),
                relative_position_index(window_size, device),
            )
        return self._tables[key]

    def position_bias(self, window_size: int) -> torch.Tensor:
        """``heads x N x N`` continuous position bias ``16 * sigmoid(G(d'))`` for a window.

        Where no gradient can flow to the bias MLP (inference, ``torch.no_grad``, a frozen
        backbone) the bias is computed once and reused until its weights change (their
        version counters or storage); in training it is computed once per forward."""
        params = tuple(self.cpb_mlp.parameters())
        # a tracer (torch.compile, torch.export / ONNX) records the computation instead: its
        # tensors have no storage to key a cache on
        tracing = torch.compiler.is_compiling() or torch.compiler.is_exporting()
        frozen = not tracing and not (
            torch.is_grad_enabled() and any(p.requires_grad for p in params)
        )
        key = None
        if frozen:
            # the same parameter objects (weak references: a replaced one never matches), with
            # the same storage, device, dtype and in-place version
            key = (window_size, *((p.data_ptr(), p.device, p.dtype, p._version) for p in params))
            cached = self._bias_cache
            if (
                cached is not None
                and cached[0] == key
                and all(r() is p for r, p in zip(cached[1], params))
            ):
                return cached[2]
        table, index = self.bias_tables(window_size)
        n = window_size * window_size
        bias = self.cpb_mlp(table.to(self.logit_scale.dtype))[index.view(-1)]
        bias = 16 * torch.sigmoid(bias.view(n, n, -1).permute(2, 0, 1))
        if frozen:
            bias = bias.detach()
            self._bias_cache = (key, tuple(weakref.ref(p) for p in params), bias)
        return bias

    def forward(
        self, x: torch.Tensor, window_size: int, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x``: ``B x nW x N x C`` windows; ``mask``: ``nW x N x N`` additive, or None."""
        b, nw, n, c = x.shape
        qkv_bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = linear(x, self.qkv.weight, qkv_bias)
        qkv = qkv.view(b, nw, n, 3, self.num_heads, c // self.num_heads).permute(3, 0, 1, 4, 2, 5)
        q, k, v = qkv.unbind(0)
        # Cosine attention: q and k over their norms (as F.normalize, eps 1e-12), the per-head
        # temperature folded into q's factor, so the product (or SDPA, scale 1) is the logit.
        scale = torch.clamp(self.logit_scale, max=math.log(1.0 / 0.01)).exp()
        q = q * (scale * _inverse_norm(q))
        k = k * _inverse_norm(k)
        bias = self.position_bias(window_size).to(q.dtype)  # heads x N x N
        if mask is not None:
            bias = bias.unsqueeze(0) + mask.unsqueeze(1).to(q.dtype)  # nW x heads x N x N
        drop = self.attn_drop if self.training else 0.0
        fused = q.is_cuda if self.fused_sdpa is None else self.fused_sdpa
        if fused:
            # Fused SDPA kernels take 4-D inputs only. Without a mask, the windows fold into the
            # batch and the bias broadcasts over it; with the shift mask, the windows fold into
            # the heads (B x nW*heads), so the nW x heads bias broadcasts over the images:
            # either way a view, not a per-image copy of the bias.
            h, d = self.num_heads, c // self.num_heads
            if bias.dim() == 3:
                shape, attn_mask = (b * nw, h, n, d), bias.unsqueeze(0)
            else:
                shape, attn_mask = (b, nw * h, n, d), bias.reshape(1, nw * h, n, n)
            out = F.scaled_dot_product_attention(
                q.reshape(shape),
                k.reshape(shape),
                v.reshape(shape),
                attn_mask=attn_mask,
                dropout_p=drop,
                scale=1.0,
            )
            out = out.view(b, nw, h, n, d)
        else:
            # On CPU, matmul + softmax beats SDPA with a learned bias (fwd+bwd, measured ~25%).
            attn = torch.softmax(q @ k.transpose(-2, -1) + bias, dim=-1)
            if drop > 0:
                attn = F.dropout(attn, drop)
            out = attn @ v
        out = out.transpose(2, 3).reshape(b, nw, n, c)
        return self.proj_drop(linear(out, self.proj.weight, self.proj.bias))


@MODELS.register_module()
class SwinV2Block(nn.Module):
    """Swin Transformer V2 block with res-post-norm and (shifted) window attention.

    ``x = x + DropPath(LN(SW-MSA(x)))``, ``x = x + DropPath(LN(FFN(x)))``.

    Maps no larger than the window get a single, unshifted window of the map's size (as the
    Swin V2 reference); other sizes are zero-padded to a window multiple (as mmpretrain).

    Args:
        embed_dims: channels C.
        num_heads: attention heads.
        window_size: window side.
        shift: shift the windows by half a window (every second block).
        mlp_ratio: FFN hidden width / C.
        drop_path: stochastic depth rate of this block.
        pretrained_window_size: see :class:`SwinV2WindowAttention`.
        ffn: a ready FFN module (e.g. :class:`MixtureOfExperts`); default a dense FFN.
        with_cp: activation checkpointing of the block.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        window_size: int = 8,
        shift: bool = False,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        pretrained_window_size: int = 0,
        ffn: nn.Module | None = None,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.window_size = window_size
        self.shift_size = window_size // 2 if shift else 0
        self.with_cp = with_cp
        self.attn = SwinV2WindowAttention(
            embed_dims, num_heads, window_size, pretrained_window_size=pretrained_window_size
        )
        self.norm1 = nn.LayerNorm(embed_dims)
        self.ffn = ffn if ffn is not None else FeedForward(embed_dims, int(embed_dims * mlp_ratio))
        self.norm2 = nn.LayerNorm(embed_dims)
        self.drop_path = DropPath(drop_path)
        # (hp, wp, window, shift, device) -> shift mask, window order and its inverse
        self._shift_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def _shifted_layout(
        self, hp: int, wp: int, ws: int, shift: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The shift mask, :func:`shifted_window_order` and its inverse, built once per map
        size and device."""
        key = (hp, wp, ws, shift, str(device))
        layout = self._shift_cache.get(key)
        if layout is None:
            if len(self._shift_cache) > 16:
                self._shift_cache.clear()
            order = shifted_window_order(hp, wp, ws, shift, device)
            inverse = torch.empty_like(order)
            inverse[order] = torch.arange(order.numel(), device=device)
            layout = (shifted_window_mask(hp, wp, ws, shift, device), order, inverse)
            self._shift_cache[key] = layout
        return layout

    def _to_windows(
        self, x: torch.Tensor, hw_shape: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple]:
        """``B x (H*W) x C`` tokens -> their (shifted, zero-padded) windows ``B x nW x ws*ws x C``,
        the shift mask (None without shift) and what :meth:`_from_windows` needs."""
        b, length, c = x.shape
        h, w = hw_shape
        if length != h * w:
            raise ValueError(
                f'SwinV2Block: token count {length} does not match hw_shape {hw_shape}'
            )
        ws, shift = self.window_size, self.shift_size
        if min(h, w) <= ws:
            ws, shift = min(h, w), 0
        x = x.view(b, h, w, c)
        pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
        if pad_r or pad_b:
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = h + pad_b, w + pad_r
        if shift > 0:
            # the cyclic shift and the window partition as one gather (and its reverse as the
            # inverse gather, in _from_windows): two passes over the map each way, not four
            mask, order, inverse = self._shifted_layout(hp, wp, ws, shift, x.device)
            windows = Permute.apply(x.reshape(b, hp * wp, c), order, inverse, 1)
            return windows.view(b, -1, ws * ws, c), mask, (h, w, hp, wp, ws, order, inverse)
        return window_partition(x, ws), None, (h, w, hp, wp, ws, None, None)

    @staticmethod
    def _from_windows(out: torch.Tensor, geometry: tuple) -> torch.Tensor:
        """Inverse of :meth:`_to_windows`: windows back to ``B x (H*W) x C`` tokens."""
        h, w, hp, wp, ws, order, inverse = geometry
        b, c = out.shape[0], out.shape[-1]
        if order is not None:
            out = Permute.apply(out.reshape(b, hp * wp, c), inverse, order, 1).view(b, hp, wp, c)
        else:
            out = window_reverse(out, ws, hp, wp)
        if hp != h or wp != w:
            out = out[:, :h, :w, :]
        return out.reshape(b, h * w, c)

    def window_attention(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """(Shifted) window attention on ``B x (H*W) x C`` tokens."""
        windows, mask, geometry = self._to_windows(x, hw_shape)
        return self._from_windows(self.attn(windows, geometry[4], mask), geometry)

    def window_attention_many(
        self, xs: Sequence[torch.Tensor], hw_shapes: Sequence[tuple[int, int]]
    ) -> list[torch.Tensor]:
        """:meth:`window_attention` of each ``B_i x (H_i*W_i) x C`` of ``xs``, with one
        attention call per window size for all of them: windows are independent of each other,
        so the unshifted windows of any maps are more rows of one batch; shifted ones join
        those of maps with the same padded size (the shift mask depends on it)."""
        parts = [self._to_windows(x, hw) for x, hw in zip(xs, hw_shapes, strict=True)]
        by_key: dict[tuple, list[int]] = {}
        for i, (_, mask, (_, _, hp, wp, ws, _, _)) in enumerate(parts):
            by_key.setdefault((ws, (hp, wp) if mask is not None else None), []).append(i)
        outs: list = [None] * len(xs)
        for (ws, shifted), idx in by_key.items():
            mask = parts[idx[0]][1]
            if len(idx) == 1:
                outs[idx[0]] = self.attn(parts[idx[0]][0], ws, mask)
                continue
            wins = [parts[i][0] for i in idx]
            if shifted is None:  # every window alone: B*nW windows of each map in one row
                joint = self.attn(torch.cat([t.flatten(0, 1) for t in wins]).unsqueeze(0), ws)[0]
                sizes = [t.shape[0] * t.shape[1] for t in wins]
            else:  # the same windows and mask: more images
                joint = self.attn(torch.cat(wins), ws, mask)
                sizes = [t.shape[0] for t in wins]
            for i, o, t in zip(idx, joint.split(sizes), wins, strict=True):
                outs[i] = o.view_as(t)
        return [self._from_windows(o, p[2]) for o, p in zip(outs, parts, strict=True)]

    def _forward(self, x: torch.Tensor, hw_shape: tuple[int, int]):
        x = x + self.drop_path(self.norm1(self.window_attention(x, hw_shape)))
        stats = None
        if isinstance(self.ffn, MixtureOfExperts):
            y, loss, counts = self.ffn(x)
            stats = (loss, counts)
        else:
            y = self.ffn(x)
        x = x + self.drop_path(self.norm2(y))
        return x, stats

    def _forward_many(self, hw_shapes: Sequence[tuple[int, int]], *xs: torch.Tensor):
        """:meth:`_forward` of each of ``xs``: the attention by :meth:`window_attention_many`,
        the token-wise layers (norms, FFN or MoE) once over the tokens of all of them."""
        c = self.embed_dims
        sizes = [x.shape[0] * x.shape[1] for x in xs]
        att = self.norm1(
            torch.cat([a.reshape(-1, c) for a in self.window_attention_many(xs, hw_shapes)])
        )
        # the residual branch per input: stochastic depth drops whole samples of each
        xs = [x + self.drop_path(a.view_as(x)) for x, a in zip(xs, att.split(sizes), strict=True)]
        flat = torch.cat([x.reshape(-1, c) for x in xs])
        stats = None
        if isinstance(self.ffn, MixtureOfExperts):
            outs = self.ffn(list(flat.split(sizes)))  # one dispatch, statistics per input
            ys, stats = torch.cat([y for y, _, _ in outs]), [(lo, n) for _, lo, n in outs]
        else:
            ys = self.ffn(flat)
        ys = self.norm2(ys).split(sizes)
        return tuple(x + self.drop_path(y.view_as(x)) for x, y in zip(xs, ys, strict=True)), stats

    def forward(
        self,
        x: torch.Tensor | Sequence[torch.Tensor],
        hw_shape: tuple[int, int] | Sequence[tuple[int, int]],
    ) -> torch.Tensor | list[torch.Tensor]:
        """``B x (H*W) x C`` -> same shape. A list of token tensors (of any map sizes and batch
        sizes, e.g. one per modality) with the list of their ``hw_shape`` gives the list of
        their outputs, each the block's output on it alone, in fewer and larger calls
        (:meth:`window_attention_many`; the norms and FFN once over all tokens)."""
        if isinstance(x, (list, tuple)):
            return self._forward_list(list(x), list(hw_shape))
        if self.with_cp and x.requires_grad and torch.is_grad_enabled():
            x, stats = checkpoint(self._forward, x, hw_shape, use_reentrant=False)
        else:
            x, stats = self._forward(x, hw_shape)
        if stats is not None:
            self.ffn.record(*stats)
        return x

    def _forward_list(
        self, xs: list[torch.Tensor], hw_shapes: list[tuple[int, int]]
    ) -> list[torch.Tensor]:
        if len(hw_shapes) != len(xs):
            raise ValueError(f'SwinV2Block: {len(xs)} token tensors but {len(hw_shapes)} hw_shapes')
        if not xs:
            return []
        grad = torch.is_grad_enabled() and any(x.requires_grad for x in xs)
        if self.with_cp and grad:
            outs, stats = checkpoint(self._forward_many, hw_shapes, *xs, use_reentrant=False)
        else:
            outs, stats = self._forward_many(hw_shapes, *xs)
        for s in stats or ():
            self.ffn.record(*s)
        return list(outs)
