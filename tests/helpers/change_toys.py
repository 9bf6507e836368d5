"""A change detector whose map depends on each pixel alone (a 1 x 1 convolution backbone), for
the tests of the scene engine's change maps: tiling cannot change its map, and a band read in
another slot does (each band has its own weights).

Imported as ``from helpers.change_toys import pixelwise_change_detector`` (tests/ is on
``sys.path``).
"""

from typing import Any

import torch
from torch import nn

from mmskysense.registry import MODELS


@MODELS.register_module(force=True)
class PixelwiseTestBackbone(nn.Module):
    """``tanh`` of a 1 x 1 convolution; ``modality`` names the input for the scene engine."""

    def __init__(self, in_channels: int = 3, channels: int = 8, modality: str | None = None):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (torch.tanh(self.conv(x)),)


def pixelwise_change_detector(
    in_channels: int, mean: float, std: float, modality: str | None = None, **cfg: Any
):
    """``(config, model)``: a ``SiameseEncoderDecoder`` over ``PixelwiseTestBackbone`` with the
    preprocessor's ``mean`` / ``std`` for every band, seeded, its logits scaled so that no pixel
    sits on the decision boundary; ``cfg``: more top-level config keys (``test_pipeline``)."""
    from mmengine.config import Config

    backbone = dict(type='PixelwiseTestBackbone', in_channels=in_channels)
    if modality is not None:
        backbone['modality'] = modality
    config = Config(
        dict(
            model=dict(
                type='SiameseEncoderDecoder',
                data_preprocessor=dict(
                    type='ChangeDetDataPreprocessor',
                    mean=[mean] * in_channels,
                    std=[std] * in_channels,
                ),
                backbone=backbone,
                neck=dict(type='SiameseFusionNeck', policy='abs_diff'),
                decode_head=dict(
                    type='mmseg.FCNHead',
                    in_channels=8,
                    in_index=0,
                    channels=8,
                    num_convs=0,
                    concat_input=False,
                    num_classes=2,
                    dropout_ratio=0.0,
                    norm_cfg=None,
                    loss_decode=dict(type='mmseg.CrossEntropyLoss', avg_non_ignore=True),
                ),
                test_cfg=dict(mode='whole'),
            ),
            default_scope='mmskysense',
            **cfg,
        )
    )
    torch.manual_seed(0)
    model = MODELS.build(config.model)
    with torch.no_grad():
        model.decode_head.conv_seg.weight.mul_(50.0)
    return config, model
