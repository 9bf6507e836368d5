"""SkySenseDataPreprocessor: batch the multi-view, multi-modal pretraining samples.

Per modality and band: ``(x - mean) / std``; then invalid pixels (nodata, padded dates) are set
to 0 *after* normalisation, so they are a neutral input, and the masks (stacked alongside) keep
them out of every loss. See docs/interfaces.md for the shapes.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from mmskysense.registry import MODELS
from mmskysense.structures import GROUPS, PretrainBatch, PretrainSample, ViewGroup
from mmskysense.structures.modalities import modality, modality_names


def _stack(items: Sequence[torch.Tensor], samples: Sequence[PretrainSample], where: str) -> Tensor:
    """The samples' ``where`` stacked; samples of different shapes are named."""
    shapes = [tuple(t.shape) for t in items]
    if len(set(shapes)) != 1:
        odd = next(i for i, sh in enumerate(shapes) if sh != shapes[0])
        raise ValueError(
            f'{where}: sample {samples[odd].sample_idx} has shape {shapes[odd]}, sample '
            f'{samples[0].sample_idx} {shapes[0]}; every sample of a batch needs the same '
            f'views, modalities, dates and sizes'
        )
    return torch.stack(list(items))


@MODELS.register_module()
class SkySenseDataPreprocessor(BaseDataPreprocessor):
    """Normalise and batch pretraining samples: the one producer of ``PretrainBatch``
    (``mmskysense.structures``, docs/interfaces.md).

    Input: ``dict(inputs=[PretrainSample, ...])`` (``PackSkySenseInputs``, ``pseudo_collate``).
    Output: ``dict(inputs=PretrainBatch)``, the same fields with a batch axis; every tensor on
    the model's device, the images normalised.

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
        """``dict(inputs=[PretrainSample, ...])`` (``pseudo_collate``) ->
        ``dict(inputs=PretrainBatch)``, normalised, on the model's device."""
        samples = data.get('inputs')
        if (
            not isinstance(samples, (list, tuple))
            or not samples
            or not all(isinstance(s, PretrainSample) for s in samples)
        ):
            raise TypeError(
                'SkySenseDataPreprocessor: expected dict(inputs=[PretrainSample, ...]) as '
                f'PackSkySenseInputs and pseudo_collate make, got inputs of type '
                f'{type(samples).__name__}'
            )
        # stacked and checked on the host, then moved to the device in one go
        _check_boxes(samples)
        batch = _collate(samples, self.modalities)
        for check in self._batch_checks:
            check(batch)
        batch = self.cast_data(batch)
        for _, group in batch.groups():
            group.images = {
                m: self.normalize(m, x, group.valid_masks[m]) for m, x in group.images.items()
            }
        return dict(inputs=batch)

    def cast_data(self, data: Any) -> Any:
        if isinstance(data, PretrainBatch):
            return data.to(self._device, non_blocking=self._non_blocking)
        return super().cast_data(data)


def _collate(samples: Sequence[PretrainSample], modalities: Sequence[str]) -> PretrainBatch:
    """The batch of docs/interfaces.md, on the host, images not yet normalised."""
    groups = {}
    for group in GROUPS:
        views = [getattr(s, group) for s in samples]
        images, valid_masks = {}, {}
        for s, v in zip(samples, views):
            if list(v.images) != list(views[0].images):
                raise ValueError(
                    f'{group}: sample {s.sample_idx} holds modalities {list(v.images)}, sample '
                    f'{samples[0].sample_idx} {list(views[0].images)}; every sample of a batch '
                    f'needs the same (a missing one is masked by the crop, docs/data_format.md)'
                )
        for name in views[0].images:
            if name not in modalities:
                raise KeyError(
                    f'no mean/std for modality {name!r}; add it to the modality table or '
                    f'configure it in SkySenseDataPreprocessor(mean=..., std=...)'
                )
            where = f'{group}.images[{name!r}]'
            images[name] = _stack([v.images[name] for v in views], samples, where)
            valid = _stack(
                [v.valid_masks[name] for v in views], samples, f'{group}.valid_masks[{name!r}]'
            )
            expected = images[name].shape[:-3] + images[name].shape[-2:]
            if valid.shape != expected:
                raise ValueError(
                    f'{group}.valid_masks[{name!r}] has shape {tuple(valid.shape)}, expected '
                    f'the image shape without bands {tuple(expected)}'
                )
            valid_masks[name] = valid
        labels = [v.osm_label for v in views]
        groups[group] = ViewGroup(
            images=images,
            valid_masks=valid_masks,
            view_boxes=_stack([v.view_boxes for v in views], samples, f'{group}.view_boxes'),
            view_geo_ops=_stack([v.view_geo_ops for v in views], samples, f'{group}.view_geo_ops'),
            # ITA's labels: only when every sample has them
            osm_label=None
            if any(x is None for x in labels)
            else _stack(labels, samples, f'{group}.osm_label'),
        )
    series = list(samples[0].date_masks)
    return PretrainBatch(
        **groups,
        date_masks={
            m: _stack([s.date_masks[m] for s in samples], samples, f'date_masks[{m!r}]')
            for m in series
        },
        doy={m: _stack([s.doy[m] for s in samples], samples, f'doy[{m!r}]') for m in series},
        region_id=torch.tensor([s.region_id for s in samples], dtype=torch.long),
        sample_idx=torch.tensor([s.sample_idx for s in samples], dtype=torch.long),
    )


def _check_boxes(samples: Sequence[PretrainSample]) -> None:
    for s in samples:
        for group, views in s.groups():
            boxes = views.view_boxes
            if boxes.dim() != 2 or boxes.shape[-1] != 4:
                raise ValueError(
                    f'{group}.view_boxes of sample {s.sample_idx} must be V x 4, got '
                    f'{tuple(boxes.shape)}'
                )
            empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
            if empty.any():
                raise ValueError(
                    f'{group}.view_boxes of sample {s.sample_idx} has an empty ground box: '
                    f'{boxes[empty].tolist()}'
                )
