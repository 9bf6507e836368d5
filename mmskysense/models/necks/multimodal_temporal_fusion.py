"""Multi-modal temporal fusion F_fus (paper section 3.2: "g and l denote the fused features
F_fus"; the fusion itself is SkySense V1's: Guo et al., "SkySense", CVPR 2024).

At each location of the HR stage-4 grid, the HR token and the S2/S1 tokens of every sampled date
(their maps resampled to that grid when they differ), each with a modality embedding and, for
time series, a day-of-year encoding, form a sequence with one learnable fusion token. A
transformer encoder mixes the sequence; the fusion token's output is F_fus at that location.
Padded dates and nodata tokens are masked out of the attention.
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmskysense.models.utils.pretrained_init import PretrainedInitMixin
from mmskysense.registry import MODELS
from mmskysense.structures.modalities import modality_names


def day_of_year_encoding(doy: Tensor, dims: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal encoding of day-of-year values (``...`` long) -> ``... x dims``."""
    if dims % 2:
        raise ValueError(f'day_of_year_encoding: `dims` must be even, got {dims}')
    half = dims // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, device=doy.device, dtype=torch.float32) / half
    )
    angles = doy.float().unsqueeze(-1) * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


@MODELS.register_module()
class MultiModalTemporalFusion(PretrainedInitMixin, nn.Module):
    """F_fus: a transformer over each location's HR token and every date's S2/S1 tokens.

    Args:
        in_dims: channels of the backbone's last-stage tokens (8C).
        embed_dims: width of the fusion transformer and of F_fus.
        modalities: modality names in sequence order; a modality of the input with a time axis
            gets day-of-year encodings.
        num_layers, num_heads, mlp_ratio, dropout: transformer encoder settings.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., network='teacher')`` loads F_fus
            from a pretraining checkpoint (``teacher.fusion.*``, or ``fusion.*`` with
            ``network='student'``; ``prefix`` to name another) through the one loader
            (``PretrainedInitMixin``: ``load_pretrained``, ``init_weights``), strictly: every
            key must be there with its shape, so the fusion's settings must be the
            pretraining's. The report is kept in ``pretrained_report``.
    """

    # where SkySenseV2 keeps F_fus (teacher.fusion., fusion.); a checkpoint must fit it whole
    pretrained_component = 'fusion'
    pretrained_strict = True

    def __init__(
        self,
        in_dims: int,
        embed_dims: int = 1024,
        modalities: Sequence[str] | None = None,
        num_layers: int = 2,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__()
        if init_cfg is not None and init_cfg.get('type') != 'Pretrained':
            raise ValueError(
                f"MultiModalTemporalFusion: init_cfg must be of type 'Pretrained', got {init_cfg}"
            )
        self.init_cfg = init_cfg
        self.pretrained_report: dict | None = None
        if embed_dims % num_heads or embed_dims % 2:
            raise ValueError(
                f'MultiModalTemporalFusion: `embed_dims` {embed_dims} must be even '
                f'and divisible by `num_heads` {num_heads}'
            )
        # None: every modality of the table
        self.modalities = modality_names() if modalities is None else tuple(modalities)
        self.embed_dims = embed_dims
        self.input_proj = nn.Linear(in_dims, embed_dims)
        self.fusion_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.modality_embed = nn.Parameter(torch.zeros(len(self.modalities), embed_dims))
        layer = nn.TransformerEncoderLayer(
            embed_dims,
            num_heads,
            int(embed_dims * mlp_ratio),
            dropout=dropout,
            activation='gelu',
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dims)
        nn.init.trunc_normal_(self.fusion_token, std=0.02)
        nn.init.trunc_normal_(self.modality_embed, std=0.02)

    def forward(
        self,
        feats: dict[str, Tensor],
        token_masks: dict[str, Tensor],
        doy: dict[str, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Args:
            feats: per modality ``N x C x h x w`` (static) or ``N x T x C x h x w`` (time series).
                The first static modality's grid (the HR one) is the output grid; without a
                static modality, the first modality's.
            token_masks: per modality ``N x h x w`` or ``N x T x h x w`` bool, True where the
                token holds data on a real date (padded dates are all False).
            doy: per time-series modality ``N x T`` day of year.

        Returns:
            F_fus ``N x D x h x w`` and its validity ``N x h x w`` (some modality had data).
        """
        names = [m for m in self.modalities if m in feats]
        unknown = sorted(set(feats) - set(self.modalities))
        if unknown or not names:
            raise KeyError(
                f'MultiModalTemporalFusion: modalities {unknown or list(feats)} are '
                f'not in `modalities` {self.modalities}'
            )
        doy = doy or {}
        static = [m for m in names if feats[m].dim() == 4]
        ref = feats[static[0] if static else names[0]]
        n, (h, w) = ref.shape[0], ref.shape[-2:]
        tokens, pads = [], []
        for m in names:
            x, mask = feats[m], token_masks.get(m)
            if mask is None:
                raise KeyError(f'MultiModalTemporalFusion: no token mask for modality {m!r}')
            timed = x.dim() == 5
            if not timed:
                x, mask = x.unsqueeze(1), mask.unsqueeze(1)
            t = x.shape[1]
            if mask.shape != (n, t) + tuple(x.shape[-2:]):
                raise ValueError(
                    f'MultiModalTemporalFusion: mask of {m!r} has shape '
                    f'{tuple(mask.shape)}, features {tuple(x.shape)}'
                )
            if x.shape[-2:] != (h, w):
                # bring every modality onto the output grid (tokens cover the same ground)
                x = (
                    F.adaptive_avg_pool2d(x.flatten(0, 1), (h, w))
                    if x.shape[-2] >= h
                    else F.interpolate(x.flatten(0, 1), (h, w), mode='nearest')
                )
                x = x.unflatten(0, (n, t))
                mask = (
                    F.interpolate(mask.flatten(0, 1)[:, None].float(), (h, w), mode='nearest')[:, 0]
                    .bool()
                    .unflatten(0, (n, t))
                )
            x = self.input_proj(x.permute(0, 3, 4, 1, 2).reshape(n * h * w, t, -1))
            x = x + self.modality_embed[self.modalities.index(m)].to(x.dtype)
            if timed:
                if m not in doy:
                    raise KeyError(f'MultiModalTemporalFusion: time series {m!r} needs `doy`')
                if doy[m].shape != (n, t):
                    raise ValueError(
                        f'MultiModalTemporalFusion: `doy` of {m!r} has shape '
                        f'{tuple(doy[m].shape)}, expected {(n, t)}'
                    )
                enc = day_of_year_encoding(doy[m], self.embed_dims).to(x.dtype)  # N x T x D
                x = x + enc[:, None].expand(n, h * w, t, -1).reshape(n * h * w, t, -1)
            tokens.append(x)
            pads.append(~mask.permute(0, 2, 3, 1).reshape(n * h * w, t))
        seq = torch.cat(
            [self.fusion_token.expand(n * h * w, -1, -1).to(tokens[0].dtype)] + tokens, dim=1
        )
        data_pad = torch.cat(pads, dim=1)
        pad = torch.cat([data_pad.new_zeros(n * h * w, 1), data_pad], dim=1)
        out = self.norm(self.encoder(seq, src_key_padding_mask=pad)[:, 0])
        fused = out.reshape(n, h, w, -1).permute(0, 3, 1, 2)
        valid = (~data_pad).any(dim=1).reshape(n, h, w)
        return fused, valid
