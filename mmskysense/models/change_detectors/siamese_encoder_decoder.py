"""A Siamese change detector on mmseg's ``EncoderDecoder``.

Input: a batch of date-major stacked pairs, ``B x 2C x H x W`` (date 1's C bands, then date 2's;
``LoadImagePair`` and ``ChangeDetDataPreprocessor``). The two dates go through the SAME backbone
(one pass over a ``2B`` batch, so the weights and the computation are shared), the fusion neck
combines the two dates' maps stage by stage (``SiameseFusionNeck``), and the decode head
predicts the change map with mmseg's losses. Whole-image and sliding-window inference
(``test_cfg.mode``), post-processing and the loss plumbing are mmseg's, unchanged: a window of
the stacked pair is a window of both dates.
"""

import torch
from mmseg.models import EncoderDecoder
from torch import Tensor

from mmskysense.registry import MODELS


@MODELS.register_module()
class SiameseEncoderDecoder(EncoderDecoder):
    """Shared-weight backbone per date, fusion neck, mmseg decode head.

    Args:
        backbone: any backbone returning a tuple of stage maps (``SkySenseV2SingleModal``, or
            an mmseg backbone).
        neck: the fusion of the two dates, called as ``neck(feats_date1, feats_date2)``.
        decode_head: mmseg decode head on the fused maps (``BITHead``, ``mmseg.FCNHead`` ...).
        bands_per_date: when given, inputs must have ``2 * bands_per_date`` channels.
        kwargs: the other ``EncoderDecoder`` arguments.
    """

    def __init__(
        self,
        backbone: dict,
        neck: dict,
        decode_head: dict,
        bands_per_date: int | None = None,
        **kwargs,
    ) -> None:
        if neck is None:
            raise ValueError(
                'SiameseEncoderDecoder needs a fusion neck '
                '(e.g. dict(type="SiameseFusionNeck", policy="concat"))'
            )
        super().__init__(backbone=backbone, neck=neck, decode_head=decode_head, **kwargs)
        self.bands_per_date = bands_per_date

    def split_dates(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """``B x 2C x H x W`` -> the two dates, ``B x C x H x W`` each."""
        channels = inputs.shape[1]
        expected = 2 * self.bands_per_date if self.bands_per_date else None
        if channels % 2 or (expected and channels != expected):
            raise ValueError(
                f'a pair needs {expected or "an even number of"} channels (two '
                f'dates stacked), got {channels}'
            )
        return inputs[:, : channels // 2], inputs[:, channels // 2 :]

    def extract_feat(self, inputs: Tensor) -> list[Tensor]:
        x1, x2 = self.split_dates(inputs)
        feats = self.backbone(torch.cat([x1, x2], dim=0))
        b = x1.shape[0]
        return self.neck([f[:b] for f in feats], [f[b:] for f in feats])
