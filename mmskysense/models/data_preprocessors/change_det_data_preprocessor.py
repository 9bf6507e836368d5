"""ChangeDetDataPreprocessor: normalise and batch date-major stacked image pairs.

Like mmseg's ``SegDataPreProcessor`` (padding of images and labels, ``size`` /
``size_divisor``, ``test_cfg``), but the statistics are given once per band of ONE date and
applied to every date, for any number of bands (3 for LEVIR-CD's RGB, 10 for OSCD's S2), and a
batch of equal-size test samples is stacked instead of refused. The bands come in the loader's
order (``LoadImagePair`` reads PNGs as RGB): there is no BGR/RGB switch.
"""

from collections.abc import Sequence
from numbers import Number
from typing import Any

import torch
from mmengine.model import BaseDataPreprocessor

from mmskysense.registry import MODELS


@MODELS.register_module()
class ChangeDetDataPreprocessor(BaseDataPreprocessor):
    """Normalise each date of ``T * C`` stacked channels with per-band ``mean`` / ``std``.

    Args:
        mean, std: one value per band of a date (length C).
        num_dates: dates stacked in the channels (2 for a pair).
        size, size_divisor: pad training batches to a fixed size or to a multiple (at most
            one; neither: to the largest sample of the batch).
        pad_val, seg_pad_val: padding of images (after normalisation) and labels.
        test_cfg: ``dict(size=...)`` or ``dict(size_divisor=...)`` for test batches.
    """

    def __init__(
        self,
        mean: Sequence[Number],
        std: Sequence[Number],
        num_dates: int = 2,
        size: tuple | None = None,
        size_divisor: int | None = None,
        pad_val: Number = 0,
        seg_pad_val: Number = 255,
        test_cfg: dict | None = None,
    ) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f'mean has {len(mean)} values, std {len(std)}')
        if size is not None and size_divisor is not None:
            raise ValueError('give size or size_divisor, not both')
        self.bands = len(mean)
        self.num_dates = num_dates
        self.register_buffer(
            'mean', torch.tensor(mean, dtype=torch.float32).repeat(num_dates).view(-1, 1, 1), False
        )
        self.register_buffer(
            'std', torch.tensor(std, dtype=torch.float32).repeat(num_dates).view(-1, 1, 1), False
        )
        self.size = size
        self.size_divisor = size_divisor
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val
        self.test_cfg = test_cfg

    def _normalise(self, img: torch.Tensor, sample) -> torch.Tensor:
        if img.shape[0] != self.num_dates * self.bands:
            name = sample.metainfo.get('img_path') if sample is not None else None
            raise ValueError(
                f'{name or "input"}: {img.shape[0]} channels, expected '
                f'{self.num_dates} dates x {self.bands} bands (the length of '
                "the data preprocessor's mean/std)"
            )
        return (img.float() - self.mean) / self.std

    def _stack(self, inputs: list[torch.Tensor], data_samples, size, size_divisor):
        from mmseg.utils import stack_batch

        if size is None and size_divisor is None:
            size_divisor = 1  # pad to the largest sample of the batch
        return stack_batch(
            inputs,
            data_samples,
            size=size,
            size_divisor=size_divisor,
            pad_val=self.pad_val,
            seg_pad_val=self.seg_pad_val,
        )

    def forward(self, data: dict, training: bool = False) -> dict[str, Any]:
        data = self.cast_data(data)
        samples = data.get('data_samples')
        inputs = [
            self._normalise(img, samples[i] if samples else None)
            for i, img in enumerate(data['inputs'])
        ]
        if training:
            if samples is None:
                raise ValueError('training batches need data_samples (the change labels)')
            inputs, samples = self._stack(inputs, samples, self.size, self.size_divisor)
        else:
            cfg = self.test_cfg or {}
            inputs, pads = self._stack(inputs, None, cfg.get('size'), cfg.get('size_divisor'))
            for sample, pad in zip(samples or [], pads):
                sample.set_metainfo(pad)
        return dict(inputs=inputs, data_samples=samples)
