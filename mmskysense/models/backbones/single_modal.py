"""The SkySense V2 backbone for one modality: the edge that mmseg, mmdet, mmrotate and
mmpretrain models call with one tensor and read a tuple of stage maps from."""

import torch

from mmskysense.registry import MODELS

from .skysense_v2 import SkySenseV2Backbone


@MODELS.register_module()
class SkySenseV2SingleModal(SkySenseV2Backbone):
    """:class:`SkySenseV2Backbone` built for one modality, tensor in, tuple out.

    Only ``modality``'s tokenizer and prompt tokens are built (the others would get no gradient
    in fine-tuning); every other parameter, and every state-dict key, is the core's, so
    checkpoints load either way.

    Args:
        modality: the modality of the inputs, a key of ``modalities``.
        modalities: as the core's; only ``modalities[modality]`` is used.
        **kwargs: the core's other arguments (``arch``, ``out_indices``, ``frozen_stages``,
            ``drop_path_rate``, ``use_moe``, ``with_cp``, ``pretrained_window_size``,
            ``init_cfg``).
    """

    def __init__(
        self, modality: str = 'hr', modalities: dict[str, dict] | None = None, **kwargs: object
    ) -> None:
        specs = self._parse_modalities(modalities)
        if modality not in specs:
            raise ValueError(
                f'SkySenseV2SingleModal: modality={modality!r} is not one of the '
                f'configured modalities {list(specs)}'
            )
        super().__init__(modalities={modality: specs[modality]}, **kwargs)
        self.modality = modality

    def forward(
        self, x: torch.Tensor, date_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """``x`` ``B x C x H x W``, or ``B x T x C x H x W`` with ``date_mask`` ``B x T`` (True =
        real date), to the tuple of stage maps of ``out_indices``."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f'SkySenseV2SingleModal (modality={self.modality!r}): takes one '
                f'Tensor, got {type(x).__name__}; SkySenseV2Backbone takes a dict of '
                'modalities'
            )
        masks = None if date_mask is None else {self.modality: date_mask}
        return super().forward({self.modality: x}, masks)[self.modality]
