"""QSACL's query-based semantic aggregation (paper section 3.2, Figure 6, before eq. 3).

m learnable queries q_1..q_m go through one transformer decoder layer that cross-attends to the
fused features F_fus of one view, giving the aggregated features z_1..z_m of that view.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mmskysense.registry import MODELS


@MODELS.register_module()
class QueryAggregation(nn.Module):
    """m learnable queries and one transformer decoder layer over a view's F_fus tokens.

    Args:
        embed_dims: size of F_fus and of the queries.
        num_queries: m.
        num_heads: attention heads.
        mlp_ratio: FFN expansion.
        dropout: dropout inside the decoder layer.
    """

    def __init__(
        self,
        embed_dims: int,
        num_queries: int = 16,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(
                f'QueryAggregation: `embed_dims` {embed_dims} is not divisible by '
                f'`num_heads` {num_heads}'
            )
        self.num_queries = num_queries
        self.queries = nn.Parameter(torch.zeros(num_queries, embed_dims))
        self.decoder = nn.TransformerDecoderLayer(
            embed_dims,
            num_heads,
            int(embed_dims * mlp_ratio),
            dropout=dropout,
            activation='gelu',
            batch_first=True,
            norm_first=True,
        )
        self.norm = nn.LayerNorm(embed_dims)
        nn.init.trunc_normal_(self.queries, std=0.02)

    def forward(
        self,
        feats: Tensor | Sequence[Tensor],
        mask: Tensor | Sequence[Tensor | None] | None = None,
    ) -> Tensor | list[Tensor]:
        """Args:
            feats: ``N x L x D`` F_fus tokens of N views, or a list of such tensors (e.g. the
                global and the local views, whose L differ): their views then go through the
                decoder in one call, shorter token rows padded with tokens no query attends to,
                and the list of their outputs is returned.
            mask: ``N x L`` bool, True for valid tokens (nodata locations are not attended); a
                list (one per tensor, or None) with a list of ``feats``.

        Returns:
            ``N x m x D`` aggregated features (a list of them for a list of ``feats``).
        """
        many = isinstance(feats, (list, tuple))
        feats = list(feats) if many else [feats]
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(feats)
        if len(masks) != len(feats):
            raise ValueError(f'QueryAggregation: {len(feats)} token tensors but {len(masks)} masks')
        for f in feats:
            if f.dim() != 3:
                raise ValueError(
                    f'QueryAggregation: `feats` must be N x L x D, got {tuple(f.shape)}'
                )
        length = max(f.shape[1] for f in feats)
        masked = any(m is not None for m in masks) or any(f.shape[1] < length for f in feats)
        rows, pads = [], []
        for f, m in zip(feats, masks, strict=True):
            n, ln = f.shape[:2]
            rows.append(f)
            if not masked:
                continue
            padding = torch.zeros(n, ln, dtype=torch.bool, device=f.device)
            if m is not None:
                padding = ~m.bool()
                # a view without any valid token attends to all of them rather than to nothing
                # (NaN)
                padding = padding & ~padding.all(dim=1, keepdim=True)
            if ln < length:  # tokens of another tensor's length: padded, never attended
                rows[-1] = torch.cat([f, f.new_zeros(n, length - ln, f.shape[2])], 1)
                padding = torch.cat([padding, padding.new_ones(n, length - ln)], 1)
            pads.append(padding)
        memory = torch.cat(rows) if len(rows) > 1 else rows[0]
        padding = (torch.cat(pads) if len(pads) > 1 else pads[0]) if masked else None
        q = self.queries.unsqueeze(0).expand(memory.shape[0], -1, -1).to(memory.dtype)
        z = self.norm(self.decoder(q, memory, memory_key_padding_mask=padding))
        if not many:
            return z
        return list(z.split([f.shape[0] for f in feats]))
