"""Collecting the per-sample masks of a multi-modal batch from the data samples' metainfo.

``PackMultiModalInputs`` stores, per sample, ``modality_mask`` (modality -> bool), ``date_masks``
and ``doy`` (series modality -> T values); the models stack them here into ``B`` / ``B x T``
tensors on the inputs' device.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor


def collect_modality_meta(
    metainfos: Sequence[dict] | None, inputs: Mapping[str, Tensor]
) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]:
    """``(present, date_masks, doy)`` of a batch: ``present[m]`` ``B`` bool, ``date_masks[m]``
    and ``doy[m]`` ``B x T`` for every series modality (5-D input).

    Without metainfo every modality counts as present and every date as real (days of year 0).
    """
    first = next(iter(inputs.values()))
    b, device = first.shape[0], first.device
    present, date_masks, doy = {}, {}, {}
    metas = list(metainfos or [])
    if metas and len(metas) != b:
        raise ValueError(f'{len(metas)} data samples for a batch of {b} inputs')
    for m, x in inputs.items():
        flags = [bool(meta.get('modality_mask', {}).get(m, True)) for meta in metas] or [True] * b
        present[m] = torch.tensor(flags, dtype=torch.bool, device=device)
        if x.dim() != 5:
            continue
        t = x.shape[1]
        masks, days = [], []
        for meta in metas:
            dm = meta.get('date_masks', {}).get(m)
            dd = meta.get('doy', {}).get(m)
            dm = np.ones(t, bool) if dm is None else np.asarray(dm, bool)
            dd = np.zeros(t, np.int64) if dd is None else np.asarray(dd, np.int64)
            if dm.shape != (t,) or dd.shape != (t,):
                raise ValueError(
                    f"modality {m!r}: the input has {t} dates but a sample's date mask / days "
                    f'of year have {dm.shape} / {dd.shape}'
                )
            masks.append(dm)
            days.append(dd)
        if not metas:
            masks, days = [np.ones(t, bool)] * b, [np.zeros(t, np.int64)] * b
        date_masks[m] = torch.as_tensor(np.stack(masks), device=device)
        doy[m] = torch.as_tensor(np.stack(days), device=device)
    return present, date_masks, doy


def encode_multimodal(
    backbone: torch.nn.Module,
    fusion_neck: torch.nn.Module,
    inputs: Mapping[str, Tensor],
    metainfos: Sequence[dict] | None,
) -> tuple[Tensor, ...]:
    """Backbone (dict in, dict of stage tuples out) then the fusion neck: one fused map per
    output stage. Padded dates are skipped by the backbone; missing modalities are masked by the
    neck (``present``)."""
    if not isinstance(inputs, Mapping):
        raise TypeError(
            f'a multi-modal model takes a dict modality -> tensor, got {type(inputs).__name__}'
        )
    present, date_masks, doy = collect_modality_meta(metainfos, inputs)
    feats = backbone(dict(inputs), date_masks or None)
    return fusion_neck(feats, present, date_masks, doy)


def restrict_modalities(
    backbone: dict, fusion_neck: dict, modalities: Sequence[str] | None
) -> tuple[dict, dict]:
    """The backbone and fusion configs built for ``modalities`` only (the set of a Table 3 row):
    ``backbone['modalities']`` and ``fusion_neck['modalities']`` list every modality a config
    family knows; the others would get no gradient, so they are not built."""
    if modalities is None:
        return backbone, fusion_neck
    backbone, fusion_neck = dict(backbone), dict(fusion_neck)
    for what, cfg in (('backbone', backbone), ('fusion_neck', fusion_neck)):
        known = cfg.get('modalities')
        if not isinstance(known, Mapping):
            raise KeyError(f'`modalities` given: {what}.modalities must be a dict listing them')
        missing = [m for m in modalities if m not in known]
        if missing:
            raise KeyError(f'modalities {missing} are not in {what}.modalities {list(known)}')
        cfg['modalities'] = {m: known[m] for m in modalities}
    return backbone, fusion_neck
