"""SkySenseDataPreprocessor: batch the multi-view, multi-modal pretraining samples.

Per modality and band: ``(x - mean) / std``; then invalid pixels (nodata, padded dates) are set
to 0 *after* normalisation, so they are a neutral input, and the masks (stacked alongside) keep
them out of every loss. See docs/interfaces.md for the shapes.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from mmengine.model import BaseDataPreprocessor

from mmskysense.registry import MODELS
from mmskysense.structures import GROUPS, PretrainBatch, ViewGroup
from mmskysense.structures.modalities import modality, modality_names


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
    """Normalise and batch pretraining samples: the one producer of ``PretrainBatch``
    (``mmskysense.structures``, docs/interfaces.md).

    Output: ``dict(inputs=PretrainBatch, data_samples=[...])``; every tensor of the batch is on
    the model's device, the images normalised. The data samples are passed on as they came (the
    algorithm reads only the batch).

    Value checks that read the data (box sizes, and those that the model registers with
    :meth:`register_batch_check`, e.g. region ids and label ranges) run here, on the host batch
    before it is moved: the training step on the device then reads nothing back.

    Args:
        mean / std: per-modality, per-band statistics (default: the modality table's).
        non_blocking: passed to ``Tensor.to``.
    """

    def __init__(
        self,
        mean: Mapping[str, Sequence[float]] | None = None,
        std: Mapping[str, Sequence[float]] | None = None,
        non_blocking: bool = False,
    ) -> None:
        super().__init__(non_blocking=non_blocking)
        # the modality table's statistics, overridden per modality by the config
        mean = {m: modality(m).mean for m in modality_names()} | dict(mean or {})
        std = {m: modality(m).std for m in modality_names()} | dict(std or {})
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
        self._batch_checks: list[Callable[[PretrainBatch], None]] = []

    def register_batch_check(self, check: Callable[[PretrainBatch], None]) -> None:
        """Run ``check(batch)`` on every host batch before it is moved (it raises on bad data)."""
        self._batch_checks.append(check)

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
        """Packed samples (``pseudo_collate``) -> ``dict(inputs=PretrainBatch, data_samples)``."""
        raw_inputs = data['inputs']
        samples: list[Any] = list(data.get('data_samples') or [])
        if not samples:
            raise ValueError('SkySenseDataPreprocessor needs data_samples (the masks live there)')
        if isinstance(raw_inputs, (list, tuple)):  # a list of per-sample dicts
            raw_inputs = {
                g: {m: [s[g][m] for s in raw_inputs] for m in raw_inputs[0][g]} for g in GROUPS
            }
        # stacked and checked on the host, then moved to the device in one go
        _check_boxes(samples)
        batch = _collate(raw_inputs, samples, self.modalities)
        for check in self._batch_checks:
            check(batch)
        batch = self.cast_data(batch)
        for _, group in batch.groups():
            group.images = {
                m: self.normalize(m, x, group.valid_masks[m]) for m, x in group.images.items()
            }
        return dict(inputs=batch, data_samples=samples)

    def cast_data(self, data: Any) -> Any:
        if isinstance(data, PretrainBatch):
            return data.to(self._device, non_blocking=self._non_blocking)
        return super().cast_data(data)


def _collate(raw_inputs: dict, samples: Sequence[Any], modalities: Sequence[str]) -> PretrainBatch:
    """The batch of docs/interfaces.md, on the host, images not yet normalised."""
    groups = {}
    for group in GROUPS:
        images, valid_masks = {}, {}
        for name, stack in raw_inputs[group].items():
            if name not in modalities:
                raise KeyError(
                    f'no mean/std for modality {name!r}; configure it in '
                    f'SkySenseDataPreprocessor(mean=..., std=...)'
                )
            images[name] = _stack_leaves(stack, f'inputs[{group!r}][{name!r}]')
            valid = _stack_leaves(
                [s.valid_masks[group][name] for s in samples], f'valid_masks[{group!r}][{name!r}]'
            )
            expected = images[name].shape[:-3] + images[name].shape[-2:]
            if valid.shape != expected:
                raise ValueError(
                    f'valid_masks[{group!r}][{name!r}] has shape '
                    f'{tuple(valid.shape)}, expected the image shape without '
                    f'bands {tuple(expected)}'
                )
            valid_masks[name] = valid
        osm = None
        if all('osm_label' in s for s in samples):
            osm = _stack_leaves([s.osm_label[group] for s in samples], f'osm_label[{group!r}]')
        groups[group] = ViewGroup(
            images=images,
            valid_masks=valid_masks,
            view_boxes=_stack_leaves(
                [s.view_boxes[group] for s in samples], f'view_boxes[{group!r}]'
            ),
            view_geo_ops=_stack_leaves(
                [s.view_geo_ops[group] for s in samples], f'view_geo_ops[{group!r}]'
            ),
            osm_label=osm,
        )
    series = list(samples[0].get('date_masks', {}))
    return PretrainBatch(
        global_views=groups['global_views'],
        local_views=groups['local_views'],
        date_masks={
            m: _stack_leaves([s.date_masks[m] for s in samples], f'date_masks[{m!r}]')
            for m in series
        },
        doy={m: _stack_leaves([s.doy[m] for s in samples], f'doy[{m!r}]') for m in series},
        region_id=torch.tensor([s.region_id for s in samples], dtype=torch.long),
    )


def _check_boxes(samples: Sequence[Any]) -> None:
    for i, s in enumerate(samples):
        for group in GROUPS:
            boxes = torch.as_tensor(s.view_boxes[group])
            if boxes.dim() != 2 or boxes.shape[-1] != 4:
                raise ValueError(
                    f'view_boxes[{group!r}] of sample {i} must be V x 4, got {tuple(boxes.shape)}'
                )
            empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
            if empty.any():
                raise ValueError(
                    f'view_boxes[{group!r}] of sample {i} has an empty ground box: '
                    f'{boxes[empty].tolist()}'
                )
