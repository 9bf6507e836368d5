"""SkySenseDataPreprocessor: batch the multi-view, multi-modal pretraining samples.

Per modality and band: ``(x - mean) / std``; then invalid pixels (nodata, padded dates) are set
to 0 *after* normalisation, so they are a neutral input, and the masks (stacked alongside) keep
them out of every loss. See docs/interfaces.md for the shapes.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from mmengine.model import BaseDataPreprocessor

from mmskysense.registry import MODELS

GROUPS = ('global_views', 'local_views')
# statistics in the pipeline's scaled units (docs/data_format.md): HR 0..255 RGB (ImageNet),
# S2 L2A reflectance B2..B12, S1 sigma0 dB (VV, VH)
DEFAULT_MEAN = dict(
    hr=[123.675, 116.28, 103.53],
    s2=[0.0582, 0.0853, 0.0827, 0.1232, 0.2219, 0.2593, 0.2743, 0.2868, 0.2255, 0.1467],
    s1=[-12.5, -20.0],
)
DEFAULT_STD = dict(
    hr=[58.395, 57.12, 57.375],
    s2=[0.0341, 0.0382, 0.0523, 0.0527, 0.0695, 0.0815, 0.0856, 0.0882, 0.0924, 0.0853],
    s1=[5.0, 5.5],
)


def _stack_leaves(items: torch.Tensor | Sequence[Any], where: str) -> torch.Tensor:
    """A list of per-sample tensors (pseudo_collate) or an already stacked tensor."""
    if isinstance(items, torch.Tensor):
        return items
    if not isinstance(items, (list, tuple)) or not items:
        raise TypeError(
            f'{where}: expected a tensor or a non-empty list of tensors, got {type(items).__name__}'
        )
    shapes = {tuple(t.shape) for t in items}
    if len(shapes) != 1:
        raise ValueError(
            f'{where}: samples have different shapes {sorted(shapes)}; every '
            f'sample of a batch needs the same views, dates and sizes'
        )
    return torch.stack(list(items))


@MODELS.register_module()
class SkySenseDataPreprocessor(BaseDataPreprocessor):
    """Normalise and batch pretraining samples (docs/interfaces.md).

    Output ``inputs``: ``global_views`` / ``local_views`` -> modality -> ``B x V x ...`` float
    tensors, plus the batched annotations used by the losses: ``valid_masks`` (same nesting,
    ``B x V x [K x] H x W`` bool), ``date_masks`` / ``doy`` (modality -> ``B x K``),
    ``view_boxes`` / ``view_geo_ops`` (group -> ``B x V x 4`` / ``B x V x 3``), ``region_id``
    (``B``) and ``osm_label`` (group -> ``B x V x H x W``) when every sample has labels.
    ``data_samples`` stay a list, moved to the device.

    Args:
        mean / std: per-modality, per-band statistics (defaults above).
        non_blocking: passed to ``Tensor.to``.
    """

    def __init__(
        self,
        mean: Mapping[str, Sequence[float]] | None = None,
        std: Mapping[str, Sequence[float]] | None = None,
        non_blocking: bool = False,
    ) -> None:
        super().__init__(non_blocking=non_blocking)
        mean = dict(DEFAULT_MEAN, **(mean or {}))
        std = dict(DEFAULT_STD, **(std or {}))
        if set(mean) != set(std):
            raise ValueError(
                f'mean and std must name the same modalities, got {sorted(mean)} and {sorted(std)}'
            )
        self.modalities = tuple(mean)
        for name in self.modalities:
            if len(mean[name]) != len(std[name]):
                raise ValueError(f'{name}: {len(mean[name])} means but {len(std[name])} stds')
            if any(s <= 0 for s in std[name]):
                raise ValueError(f'{name}: std must be positive, got {std[name]}')
            # buffers follow the model to its device; shape C x 1 x 1 broadcasts on ... C H W
            self.register_buffer(f'{name}_mean', torch.tensor(mean[name]).view(-1, 1, 1), False)
            self.register_buffer(f'{name}_std', torch.tensor(std[name]).view(-1, 1, 1), False)

    def normalize(self, name: str, images: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` per band (axis -3); 0 where ``valid`` (``... x H x W``) is False."""
        mean, std = getattr(self, f'{name}_mean'), getattr(self, f'{name}_std')
        if images.shape[-3] != mean.shape[0]:
            raise ValueError(
                f'{name}: images have {images.shape[-3]} bands, the preprocessor '
                f'has statistics for {mean.shape[0]}'
            )
        out = (images.float() - mean) / std
        return out * valid.unsqueeze(-3).to(out.dtype)

    def forward(self, data: dict, training: bool = False) -> dict[str, Any]:
        data = self.cast_data(data)
        raw_inputs = data['inputs']
        samples: list[Any] = list(data.get('data_samples') or [])
        if isinstance(raw_inputs, (list, tuple)):  # a list of per-sample dicts
            raw_inputs = {
                g: {m: [s[g][m] for s in raw_inputs] for m in raw_inputs[0][g]} for g in GROUPS
            }
        if not samples:
            raise ValueError('SkySenseDataPreprocessor needs data_samples (the masks live there)')
        inputs: dict[str, Any] = {}
        valid_masks: dict[str, dict[str, torch.Tensor]] = {}
        for group in GROUPS:
            inputs[group], valid_masks[group] = {}, {}
            for name, images in raw_inputs[group].items():
                if name not in self.modalities:
                    raise KeyError(
                        f'no mean/std for modality {name!r}; configure it in '
                        f'SkySenseDataPreprocessor(mean=..., std=...)'
                    )
                images = _stack_leaves(images, f'inputs[{group!r}][{name!r}]')
                valid = _stack_leaves(
                    [s.valid_masks[group][name] for s in samples],
                    f'valid_masks[{group!r}][{name!r}]',
                )
                if valid.shape != images.shape[:-3] + images.shape[-2:]:
                    raise ValueError(
                        f'valid_masks[{group!r}][{name!r}] has shape '
                        f'{tuple(valid.shape)}, expected the image shape without '
                        f'bands {tuple(images.shape[:-3] + images.shape[-2:])}'
                    )
                inputs[group][name] = self.normalize(name, images, valid)
                valid_masks[group][name] = valid
        inputs['valid_masks'] = valid_masks
        for field in ('date_masks', 'doy'):
            inputs[field] = {
                name: _stack_leaves(
                    [getattr(s, field)[name] for s in samples], f'{field}[{name!r}]'
                )
                for name in samples[0].get(field, {})
            }
        for field in ('view_boxes', 'view_geo_ops'):
            inputs[field] = {
                g: _stack_leaves([getattr(s, field)[g] for s in samples], f'{field}[{g!r}]')
                for g in GROUPS
            }
        if all('osm_label' in s for s in samples):
            inputs['osm_label'] = {
                g: _stack_leaves([s.osm_label[g] for s in samples], f'osm_label[{g!r}]')
                for g in GROUPS
            }
        inputs['region_id'] = torch.tensor(
            [s.region_id for s in samples],
            dtype=torch.long,
            device=inputs['global_views']['hr'].device if 'hr' in inputs['global_views'] else None,
        )
        return dict(inputs=inputs, data_samples=samples)
