"""Fusing the modalities of a downstream sample into one map per stage (paper Table 3).

The backbone gives, per modality, one map per stage on the modality's own token grid (HR:
strides 4..32 of its input; MS/SAR: stride 4 at every stage), and per date for a series. Every
output stage has one **common grid**: the reference modality's (the first ``kind='hr'``
modality given, else the first one) stage-``i`` token grid; for an MS reference, its stage map
resampled by ``ms_scales[i]`` (default 1, 1/2, 1/4, 1/8, so strides 4, 8, 16, 32 of its input as
for HR). Every other modality's map is resampled to it: averaged over its footprint when finer,
bilinearly interpolated when coarser; the modalities of a sample cover the same ground, so the
grids align.

Then, per stage, the modalities are fused:

* ``'sum'``: a 1x1 projection per modality, summed over the modalities the sample has and
  divided by their number;
* ``'concat'``: the modality maps concatenated, a missing one replaced by a learned absent
  vector, then a 1x1 projection;
* ``'temporal_fusion'``: the last stage goes through the pretraining's multi-modal temporal
  fusion F_fus (``MultiModalTemporalFusion``, with its pretrained weights): at each location, the
  static tokens and the tokens of every real date of each series, with day-of-year encodings,
  attend to each other and a fusion token; the stages below use ``shallow_mode``.

Series are pooled over their real dates (``TemporalPooling``) for ``'sum'``/``'concat'``;
F_fus reads the dates themselves. A modality missing for a sample (``present`` False) is masked
in every mode (excluded from the sum, its absent vector in the concatenation, its tokens padded
in F_fus), so its placeholder input never reaches the output.
"""

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmskysense.registry import MODELS

MODES = ('sum', 'concat', 'temporal_fusion')


def resample_to(x: Tensor, grid: tuple[int, int]) -> Tensor:
    """``N x C x h x w`` to ``grid``: area average when shrinking, bilinear when enlarging."""
    if tuple(x.shape[-2:]) == tuple(grid):
        return x
    if x.shape[-2] >= grid[0] and x.shape[-1] >= grid[1]:
        return F.adaptive_avg_pool2d(x, grid)
    return F.interpolate(x, size=grid, mode='bilinear', align_corners=False)


def _resample_any(x: Tensor, grid: tuple[int, int]) -> Tensor:
    if x.dim() == 5:
        return resample_to(x.flatten(0, 1), grid).unflatten(0, x.shape[:2])
    return resample_to(x, grid)


@MODELS.register_module()
class MultiModalFusion(BaseModule):
    """Resample the modalities to a common grid and fuse them, stage by stage.

    Args:
        modalities: modality name -> ``'hr'`` or ``'ms'`` (the backbone's kinds), in the order
            that picks the reference (the first ``'hr'``, else the first).
        in_channels: channels of the backbone maps of each output stage.
        stages: the backbone stage index of each output (its ``out_indices``).
        mode: ``'sum'``, ``'concat'`` or ``'temporal_fusion'``.
        out_channels: channels of each fused map (default ``in_channels``; with
            ``'temporal_fusion'`` the last one is F_fus's ``embed_dims`` unless given).
        ms_scales: resampling of an MS reference's stage maps, per output stage.
        series: modalities that come as time series (default: those of kind ``'ms'``).
        temporal_pooling: ``TemporalPooling`` config for the series in the non-F_fus stages.
        fusion: ``MultiModalTemporalFusion`` config (``'temporal_fusion'``); its
            ``in_dims`` defaults to the last ``in_channels`` and its ``init_cfg`` can load the
            pretraining's weights.
        shallow_mode: fusion of the stages below the last with ``'temporal_fusion'``.
        init_cfg: mmengine init config.
    """

    def __init__(
        self,
        modalities: Mapping[str, str],
        in_channels: Sequence[int],
        stages: Sequence[int] = (0, 1, 2, 3),
        mode: str = 'sum',
        out_channels: Sequence[int] | None = None,
        ms_scales: Sequence[float] = (1, 0.5, 0.25, 0.125),
        series: Sequence[str] | None = None,
        temporal_pooling: dict | None = None,
        fusion: dict | None = None,
        shallow_mode: str = 'sum',
        init_cfg=None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if mode not in MODES:
            raise ValueError(f'MultiModalFusion: mode must be one of {MODES}, got {mode!r}')
        if shallow_mode not in ('sum', 'concat'):
            raise ValueError(
                f'MultiModalFusion: shallow_mode must be sum or concat, got {shallow_mode!r}'
            )
        if len(in_channels) != len(stages) or len(ms_scales) != len(stages):
            raise ValueError(
                f'MultiModalFusion: {len(stages)} stages need as many in_channels and ms_scales, '
                f'got {len(in_channels)} and {len(ms_scales)}'
            )
        bad = {m: k for m, k in modalities.items() if k not in ('hr', 'ms')}
        if bad or not modalities:
            raise ValueError(f'MultiModalFusion: modalities must map names to hr/ms, got {bad}')
        self.kinds = dict(modalities)
        self.names = tuple(modalities)
        self.stages = tuple(stages)
        self.in_channels = list(in_channels)
        self.ms_scales = tuple(float(s) for s in ms_scales)
        self.mode = mode
        self.series = tuple(series) if series is not None else tuple(
            m for m in self.names if self.kinds[m] == 'ms'
        )  # fmt: skip
        out = list(out_channels) if out_channels is not None else list(in_channels)
        self.fusion = None
        if mode == 'temporal_fusion':
            cfg = dict(fusion or dict(type='MultiModalTemporalFusion'))
            cfg.setdefault('in_dims', in_channels[-1])
            self.fusion = MODELS.build(cfg)
            unknown = [m for m in self.names if m not in self.fusion.modalities]
            if unknown:
                raise ValueError(
                    f"MultiModalFusion: modalities {unknown} are not among the fusion's "
                    f'{self.fusion.modalities}'
                )
            if out_channels is None:
                out[-1] = self.fusion.embed_dims
        self.out_channels = out
        # per stage: how the simple fusions combine (the F_fus stage has none)
        self.stage_modes = [mode] * len(stages)
        if mode == 'temporal_fusion':
            self.stage_modes = [shallow_mode] * (len(stages) - 1) + ['temporal_fusion']
        pool_cfg = dict(temporal_pooling or dict(type='TemporalPooling', mode='attention'))
        pool_cfg.setdefault('in_channels', list(in_channels))
        pooled = any(m != 'temporal_fusion' for m in self.stage_modes)  # F_fus reads the dates
        self.pooling = nn.ModuleDict(
            {m: MODELS.build(dict(pool_cfg)) for m in self.series} if pooled else {}
        )
        self.proj = nn.ModuleList()
        self.absent = nn.ParameterList()
        for i, (c_in, c_out, smode) in enumerate(zip(in_channels, out, self.stage_modes)):
            if smode == 'sum':
                self.proj.append(nn.ModuleDict({m: nn.Conv2d(c_in, c_out, 1) for m in self.names}))
                self.absent.append(nn.Parameter(torch.zeros(0)))
            elif smode == 'concat':
                self.proj.append(
                    nn.ModuleDict({'all': nn.Conv2d(c_in * len(self.names), c_out, 1)})
                )
                self.absent.append(nn.Parameter(torch.zeros(len(self.names), c_in)))
            else:
                fused = self.fusion.embed_dims
                self.proj.append(
                    nn.ModuleDict({} if c_out == fused else {'out': nn.Conv2d(fused, c_out, 1)})
                )
                self.absent.append(nn.Parameter(torch.zeros(0)))

    # ----------------------------------------------------------------- grids
    def grid(self, index: int, ref: str, ref_map: Tensor) -> tuple[int, int]:
        """The common grid of output ``index`` from the reference modality's map."""
        h, w = ref_map.shape[-2:]
        if self.kinds[ref] == 'ms':
            s = self.ms_scales[index]
            return max(1, round(h * s)), max(1, round(w * s))
        return h, w

    # --------------------------------------------------------------- forward
    def forward(
        self,
        feats: Mapping[str, Sequence[Tensor]],
        present: Mapping[str, Tensor],
        date_masks: Mapping[str, Tensor] | None = None,
        doy: Mapping[str, Tensor] | None = None,
    ) -> tuple[Tensor, ...]:
        """Args:
            feats: modality -> one map per output stage (``B x C x h x w``, or
                ``B x T x C x h x w`` for a series), as the backbone returns them.
            present: modality -> ``B`` bool, False where the sample lacks it.
            date_masks, doy: series modality -> ``B x T`` (True = real date; day of year).

        Returns:
            one fused ``B x C_out x h_i x w_i`` map per output stage, on the common grids.
        """
        date_masks, doy = date_masks or {}, doy or {}
        names = [m for m in self.names if m in feats]
        unknown = sorted(set(feats) - set(self.names))
        if unknown or not names:
            raise KeyError(
                f'MultiModalFusion: inputs {sorted(feats)} do not match its modalities '
                f'{list(self.names)}'
            )
        hr = [m for m in names if self.kinds[m] == 'hr']
        ref = hr[0] if hr else names[0]
        outs = []
        for i in range(len(self.stages)):
            grid = self.grid(i, ref, feats[ref][i])
            smode = self.stage_modes[i]
            if smode == 'temporal_fusion':
                outs.append(self._fuse_temporal(i, names, feats, present, date_masks, doy, grid))
                continue
            maps = {}
            for m in names:
                x = feats[m][i]
                if x.dim() == 5:
                    if m not in self.pooling:
                        raise ValueError(
                            f'MultiModalFusion: {m!r} is a series but not in `series` {self.series}'
                        )
                    x = self.pooling[m].pool_stage(i, x, date_masks.get(m))
                maps[m] = resample_to(x, grid)
            outs.append(self._fuse_simple(i, smode, names, maps, present))
        return tuple(outs)

    @staticmethod
    def _mask(x: Tensor, mask: Tensor | None) -> Tensor:
        if mask is None:
            return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return mask.to(x.device).bool()

    def _fuse_simple(
        self, i: int, smode: str, names: list, maps: dict, present: Mapping[str, Tensor]
    ) -> Tensor:
        first = maps[names[0]]
        b = first.shape[0]
        if smode == 'sum':
            total, count = 0.0, first.new_zeros(b, 1, 1, 1)
            for m in names:
                w = present[m].to(first.dtype).view(b, 1, 1, 1)
                total = total + self.proj[i][m](maps[m]) * w
                count = count + w
            return total / count.clamp(min=1.0)
        parts = []
        for m in names:
            w = present[m].to(first.dtype).view(b, 1, 1, 1)
            fill = self.absent[i][self.names.index(m)].view(1, -1, 1, 1).to(first.dtype)
            parts.append(maps[m] * w + fill * (1 - w))
        for m in self.names:
            if m not in maps:  # a configured modality left out of the inputs: absent everywhere
                fill = self.absent[i][self.names.index(m)].view(1, -1, 1, 1).to(first.dtype)
                parts.insert(self.names.index(m), fill.expand(b, -1, *first.shape[-2:]))
        return self.proj[i]['all'](torch.cat(parts, dim=1))

    def _fuse_temporal(self, i, names, feats, present, date_masks, doy, grid) -> Tensor:
        xs, masks, days = {}, {}, {}
        for m in names:
            x = _resample_any(feats[m][i], grid)
            b = x.shape[0]
            here = present[m].to(x.device).bool()
            if x.dim() == 5:
                t = x.shape[1]
                dm = self._mask(x, date_masks.get(m)) & here[:, None]
                masks[m] = dm[:, :, None, None].expand(b, t, *grid)
                days[m] = (
                    doy[m].to(x.device).long()
                    if m in doy
                    else torch.zeros(b, t, dtype=torch.long, device=x.device)
                )
            else:
                masks[m] = here[:, None, None].expand(b, *grid)
            xs[m] = x
        fused, _ = self.fusion(xs, masks, days)
        head = self.proj[i]
        return head['out'](fused) if 'out' in head else fused
