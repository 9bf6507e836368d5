# SkySense V2 unified backbone (section 3.1), the paper's `huge` preset, with every argument:
# a dict of modalities in, a dict of per-stage maps out (what the pretraining algorithm calls).
# Use from a config that inherits this file:
#   _base_ = ['../_base_/models/skysense_v2_backbone.py']
#   model = dict(type='SkySenseV2', backbone={{_base_.backbone}}, ...)
# Task models of mmseg / mmdet / mmpretrain take one tensor: they use the single-modal edge,
# dict(type='SkySenseV2SingleModal', modality='hr', <these arguments>), as
# _base_/models/{upernet,linear_cls,faster_rcnn,oriented_rcnn}_*.py do.
backbone = dict(
    type='SkySenseV2Backbone',
    arch='huge',  # 'huge' | 'large' | 'base' | 'small' | 'tiny' | dict(...)
    modalities=dict(
        hr=dict(in_channels=3, kind='hr'),  # HR optical RGB: strides 4, 8, 16, 32
        s2=dict(in_channels=10, kind='ms'),  # Sentinel-2 MS: stride 4 at every stage
        s1=dict(in_channels=2, kind='ms'),  # Sentinel-1 SAR (VV, VH): stride 4 at every stage
    ),
    out_indices=(0, 1, 2, 3),
    frozen_stages=-1,
    drop_path_rate=0.1,
    use_moe=True,
    with_cp=False,
    init_cfg=None,
)
