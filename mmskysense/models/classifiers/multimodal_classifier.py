"""An mmpretrain ``ImageClassifier`` over a dict of modalities (BEN-MM; paper Table 3c).

The core backbone maps each modality to its stage maps, the fusion neck (``MultiModalFusion``)
fuses them on a common grid (masking modalities a sample lacks), then the usual neck (pooling)
and head run unchanged.
"""

from mmpretrain.models import ImageClassifier
from mmpretrain.structures import DataSample

from mmskysense.registry import MODELS

from ..utils.multimodal_inputs import encode_multimodal, restrict_modalities


@MODELS.register_module()
class MultiModalImageClassifier(ImageClassifier):
    """``ImageClassifier`` whose inputs are ``dict(modality=tensor)``.

    Args:
        backbone: the multi-modal core (``SkySenseV2Backbone``) config.
        modalities: the modalities of the model (a Table 3 row); ``backbone.modalities`` and
            ``fusion_neck.modalities`` are restricted to them (None: all they list).
        fusion_neck: config of the module fusing the backbone's per-modality maps, called as
            ``fusion_neck(feats, present, date_masks, doy)``.
        kwargs: ``ImageClassifier`` arguments; the backbone is the multi-modal core.
    """

    #: takes the core backbone's dict of modalities (scene inference: MultiModalAdapter)
    multimodal_inputs = True

    def __init__(
        self, backbone: dict, fusion_neck: dict, modalities: list[str] | None = None, **kwargs
    ) -> None:
        backbone, fusion_neck = restrict_modalities(backbone, fusion_neck, modalities)
        super().__init__(backbone=backbone, **kwargs)
        self.modalities = tuple(fusion_neck['modalities'])
        self.fusion_neck = MODELS.build(fusion_neck)

    def extract_feat(
        self, inputs: dict, stage: str = 'neck', data_samples: list[DataSample] | None = None
    ) -> tuple:
        assert stage in ('backbone', 'neck', 'pre_logits'), f'unknown stage {stage!r}'
        metas = [s.metainfo for s in data_samples] if data_samples else None
        x = encode_multimodal(self.backbone, self.fusion_neck, inputs, metas)
        if stage == 'backbone':
            return x
        if self.with_neck:
            x = self.neck(x)
        if stage == 'neck':
            return x
        return self.head.pre_logits(x)

    def loss(self, inputs: dict, data_samples: list[DataSample]) -> dict:
        return self.head.loss(self.extract_feat(inputs, data_samples=data_samples), data_samples)

    def predict(
        self, inputs: dict, data_samples: list[DataSample] | None = None
    ) -> list[DataSample]:
        feats = self.extract_feat(inputs, data_samples=data_samples)
        return self.head.predict(feats, data_samples)

    def forward(self, inputs: dict, data_samples=None, mode: str = 'tensor'):
        if mode == 'tensor':
            feats = self.extract_feat(inputs, data_samples=data_samples)
            return self.head(feats) if self.with_head else feats
        return super().forward(inputs, data_samples, mode)
