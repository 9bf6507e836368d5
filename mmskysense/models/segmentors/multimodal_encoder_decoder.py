"""An mmseg ``EncoderDecoder`` over a dict of modalities (Dyna.-MM, PASTIS-MM; paper Table 3).

The core backbone maps each modality (one acquisition or a series) to its stage maps; the
fusion neck (``MultiModalFusion``) brings them to a common grid and fuses them, masking
modalities a sample lacks; then the usual neck and decode head (UperNet, FCN) run unchanged.
"""

from mmseg.models import EncoderDecoder
from torch import Tensor

from mmskysense.registry import MODELS

from ..utils.multimodal_inputs import encode_multimodal, restrict_modalities


@MODELS.register_module()
class MultiModalEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` whose inputs are ``dict(modality=tensor)``.

    Args:
        backbone: the multi-modal core (``SkySenseV2Backbone``) config.
        modalities: the modalities of the model (a Table 3 row); ``backbone.modalities`` and
            ``fusion_neck.modalities`` are restricted to them (None: all they list).
        fusion_neck: config of the module fusing the backbone's per-modality maps, called as
            ``fusion_neck(feats, present, date_masks, doy)``.
        kwargs: ``EncoderDecoder`` arguments; the backbone is the multi-modal core
            (``SkySenseV2Backbone``) and ``test_cfg`` must use ``mode='whole'`` (the grids of
            the modalities differ, so sliding windows would need one per grid).
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
        if self.test_cfg is not None and self.test_cfg.get('mode', 'whole') != 'whole':
            raise ValueError(
                'MultiModalEncoderDecoder: only test_cfg mode="whole" is supported, got '
                f'{self.test_cfg.get("mode")!r}'
            )

    def extract_feat(self, inputs: dict, batch_img_metas: list[dict] | None = None) -> list:
        x = encode_multimodal(self.backbone, self.fusion_neck, inputs, batch_img_metas)
        if self.with_neck:
            x = self.neck(x)
        return list(x)

    def encode_decode(self, inputs: dict, batch_img_metas: list[dict]) -> Tensor:
        x = self.extract_feat(inputs, batch_img_metas)
        return self.decode_head.predict(x, batch_img_metas, self.test_cfg)

    def loss(self, inputs: dict, data_samples) -> dict:
        x = self.extract_feat(inputs, [s.metainfo for s in data_samples])
        losses = dict()
        losses.update(self._decode_head_forward_train(x, data_samples))
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        return losses

    def inference(self, inputs: dict, batch_img_metas: list[dict]) -> Tensor:
        return self.whole_inference(inputs, batch_img_metas)

    def _forward(self, inputs: dict, data_samples=None) -> Tensor:
        metas = [s.metainfo for s in data_samples] if data_samples else None
        return self.decode_head.forward(self.extract_feat(inputs, metas))
