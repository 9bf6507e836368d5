"""QSACL's query-based semantic aggregation (paper section 3.2, Figure 6, before eq. 3).

m learnable queries q_1..q_m go through one transformer decoder layer that cross-attends to the
fused features F_fus of one view, giving the aggregated features z_1..z_m of that view.
"""

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

    def forward(self, feats: Tensor, mask: Tensor | None = None) -> Tensor:
        """Args:
            feats: ``N x L x D`` F_fus tokens of N views.
            mask: ``N x L`` bool, True for valid tokens (nodata locations are not attended).

        Returns:
            ``N x m x D`` aggregated features.
        """
        if feats.dim() != 3:
            raise ValueError(
                f'QueryAggregation: `feats` must be N x L x D, got {tuple(feats.shape)}'
            )
        n = feats.shape[0]
        padding = None
        if mask is not None:
            padding = ~mask.bool()
            # a view without any valid token attends to all of them rather than to nothing (NaN)
            padding = padding & ~padding.all(dim=1, keepdim=True)
        q = self.queries.unsqueeze(0).expand(n, -1, -1).to(feats.dtype)
        z = self.decoder(q, feats, memory_key_padding_mask=padding)
        return self.norm(z)
