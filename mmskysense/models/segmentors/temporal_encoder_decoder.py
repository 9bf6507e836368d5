"""An mmseg ``EncoderDecoder`` over image time series (Dyna.-S2).

Per-date maps of the backbone (``SkySenseV2SingleModal``, called as
``backbone(series, date_mask=...)``) are pooled over the real dates (``date_mask`` from each
sample's metainfo) by a temporal neck before the usual neck (the MS pyramid) and decode head.
"""

from collections.abc import Sequence

from mmseg.models import EncoderDecoder
from torch import Tensor

from mmskysense.registry import MODELS

from ..utils.temporal_inputs import check_takes_date_mask, split_series


@MODELS.register_module()
class TemporalEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` whose inputs are ``T`` dates of ``bands_per_date`` bands each.

    Args:
        temporal_neck: config of the module pooling per-date maps, called as
            ``temporal_neck(maps, date_mask)``.
        bands_per_date: channels of one date in the stacked input.
        kwargs: ``EncoderDecoder`` arguments.
    """

    def __init__(self, temporal_neck: dict, bands_per_date: int, **kwargs) -> None:
        super().__init__(**kwargs)
        check_takes_date_mask(self.backbone, 'TemporalEncoderDecoder')
        self.temporal_neck = MODELS.build(temporal_neck)
        self.bands_per_date = bands_per_date

    def extract_feat(
        self, inputs: Tensor, batch_img_metas: Sequence[dict] | None = None
    ) -> list[Tensor]:
        series, date_mask = split_series(inputs, self.bands_per_date, batch_img_metas)
        x = self.backbone(series, date_mask=date_mask)
        x = self.temporal_neck(x, date_mask)
        if self.with_neck:
            x = self.neck(x)
        return x

    def encode_decode(self, inputs: Tensor, batch_img_metas: list[dict]) -> Tensor:
        x = self.extract_feat(inputs, batch_img_metas)
        return self.decode_head.predict(x, batch_img_metas, self.test_cfg)

    def loss(self, inputs: Tensor, data_samples) -> dict:
        x = self.extract_feat(inputs, [s.metainfo for s in data_samples])
        losses = dict()
        losses.update(self._decode_head_forward_train(x, data_samples))
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        return losses

    def _forward(self, inputs: Tensor, data_samples=None) -> Tensor:
        metas = [s.metainfo for s in data_samples] if data_samples else None
        return self.decode_head.forward(self.extract_feat(inputs, metas))
