"""An mmpretrain ``ImageClassifier`` over image time series (fMoW-S2).

The backbone (``SkySenseV2SingleModal``, called as ``backbone(series, date_mask=...)``) gives
per-date maps; a temporal neck (``TemporalPooling``) pools them over the real dates of each sample
(its ``date_mask``), then the usual neck and head run unchanged.
"""

import torch
from mmpretrain.models import ImageClassifier
from mmpretrain.structures import DataSample

from mmskysense.registry import MODELS

from ..utils.temporal_inputs import check_takes_date_mask, split_series


@MODELS.register_module()
class TemporalImageClassifier(ImageClassifier):
    """``ImageClassifier`` whose inputs are ``T`` dates of ``bands_per_date`` bands each.

    Args:
        temporal_neck: config of the module pooling per-date maps, called as
            ``temporal_neck(maps, date_mask)``.
        bands_per_date: channels of one date in the stacked input.
        kwargs: ``ImageClassifier`` arguments (backbone, neck, head, data_preprocessor, ...).
    """

    def __init__(self, temporal_neck: dict, bands_per_date: int, **kwargs) -> None:
        super().__init__(**kwargs)
        check_takes_date_mask(self.backbone, 'TemporalImageClassifier')
        self.temporal_neck = MODELS.build(temporal_neck)
        self.bands_per_date = bands_per_date

    def extract_feat(
        self,
        inputs: torch.Tensor,
        stage: str = 'neck',
        data_samples: list[DataSample] | None = None,
    ) -> tuple:
        assert stage in ('backbone', 'neck', 'pre_logits'), f'unknown stage {stage!r}'
        metas = [s.metainfo for s in data_samples] if data_samples else None
        series, date_mask = split_series(inputs, self.bands_per_date, metas)
        x = self.backbone(series, date_mask=date_mask)
        x = self.temporal_neck(x, date_mask)
        if stage == 'backbone':
            return x
        if self.with_neck:
            x = self.neck(x)
        if stage == 'neck':
            return x
        return self.head.pre_logits(x)

    def loss(self, inputs: torch.Tensor, data_samples: list[DataSample]) -> dict:
        feats = self.extract_feat(inputs, data_samples=data_samples)
        return self.head.loss(feats, data_samples)

    def predict(
        self, inputs: torch.Tensor, data_samples: list[DataSample] | None = None
    ) -> list[DataSample]:
        feats = self.extract_feat(inputs, data_samples=data_samples)
        return self.head.predict(feats, data_samples)
