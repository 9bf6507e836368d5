"""MultiModalDataPreprocessor: batch the samples of a multi-modal downstream dataset.

Each sample's ``inputs`` is a dict modality -> ``C x H x W`` (or ``T x C x H x W``); the batch is
a dict modality -> ``B x C x H x W`` (``B x T x C x H x W``). Per modality and band:
``(x - mean) / std`` (modalities without statistics are left as they are, e.g. already
standardised by the loader with the release's own statistics); then padded dates and missing
modalities are set to 0 *after* normalisation, a neutral input, while their masks (in the data
samples) keep them out of the fusion.
"""

from collections.abc import Mapping, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from mmskysense.registry import MODELS

from ..utils.multimodal_inputs import collect_modality_meta


@MODELS.register_module()
class MultiModalDataPreprocessor(BaseDataPreprocessor):
    """Normalise and stack multi-modal samples (segmentation or classification).

    Args:
        mean / std: modality -> per-band statistics (a series uses them for every date).
        non_blocking: passed to ``Tensor.to``.
        batch_augments: must be None (mmpretrain's classifiers pass their ``train_cfg`` here;
            mixup-style batch augmentations of several modalities are not defined).
    """

    def __init__(
        self,
        mean: Mapping[str, Sequence[float]] | None = None,
        std: Mapping[str, Sequence[float]] | None = None,
        non_blocking: bool = False,
        batch_augments: dict | None = None,
    ) -> None:
        super().__init__(non_blocking=non_blocking)
        if batch_augments:
            raise ValueError(
                f'MultiModalDataPreprocessor: batch augmentations are not supported, got '
                f'{batch_augments}'
            )
        mean, std = dict(mean or {}), dict(std or {})
        if set(mean) != set(std):
            raise ValueError(
                f'MultiModalDataPreprocessor: mean has modalities {sorted(mean)} but std '
                f'{sorted(std)}'
            )
        for m in mean:
            if len(mean[m]) != len(std[m]) or any(s <= 0 for s in std[m]):
                raise ValueError(f'MultiModalDataPreprocessor: bad statistics for {m!r}')
            self.register_buffer(f'mean_{m}', torch.tensor(mean[m]), persistent=False)
            self.register_buffer(f'std_{m}', torch.tensor(std[m]), persistent=False)
        self.normalised = tuple(mean)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        samples = data.get('data_samples')
        batch = data['inputs']
        # pseudo_collate gives modality -> list of samples; a list of dicts is accepted too
        if isinstance(batch, Mapping):
            per_mod = dict(batch)
        elif batch and all(isinstance(s, Mapping) for s in batch):
            names = list(batch[0])
            per_mod = {m: [s.get(m) for s in batch] for m in names}
        else:
            raise TypeError('MultiModalDataPreprocessor: inputs must be dicts modality -> tensor')
        inputs = {}
        for m, items in per_mod.items():
            if isinstance(items, torch.Tensor):
                items = list(items)
            shapes = {tuple(t.shape) for t in items if t is not None}
            if any(t is None for t in items) or len(shapes) != 1:
                raise ValueError(
                    f'MultiModalDataPreprocessor: modality {m!r} has shapes {sorted(shapes)} in '
                    f'one batch (or is absent from some samples); every sample needs it, at '
                    f'one size'
                )
            x = torch.stack(items).float()
            if m in self.normalised:
                mean, std = getattr(self, f'mean_{m}'), getattr(self, f'std_{m}')
                if x.shape[-3] != mean.numel():
                    raise ValueError(
                        f'MultiModalDataPreprocessor: {m!r} has {x.shape[-3]} bands, its '
                        f'statistics {mean.numel()}'
                    )
                x = (x - mean.view(-1, 1, 1)) / std.view(-1, 1, 1)
            inputs[m] = x
        metas = [s.metainfo for s in samples] if samples else None
        present, date_masks, _ = collect_modality_meta(metas, inputs)
        for m, x in inputs.items():
            keep = present[m].view(-1, *([1] * (x.dim() - 1)))
            if m in date_masks:
                keep = keep & date_masks[m].view(*date_masks[m].shape, 1, 1, 1)
            inputs[m] = torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))
        return dict(inputs=inputs, data_samples=samples)
