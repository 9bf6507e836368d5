# Semantic segmentation (paper Table 2a): SkySense V2 backbone + UperNet (mmseg), with an FCN
# auxiliary head on stage 3. default_scope is mmskysense: mmseg modules, nested ones included
# (losses), carry their scope. HR inputs give strides 4/8/16/32 directly; MS inputs (stride 4 at
# every stage) add neck=dict(type='MSFeaturePyramid', ...) in their dataset config.
# The backbone's width, stated once: C of the arch below; stage i has C * 2**i channels.
embed_dims = 352  # 'huge'
stage_channels = [embed_dims * 2**i for i in range(4)]
norm_cfg = dict(type='SyncBN', requires_grad=True)  # reverted to BN when not distributed
model = dict(
    type='mmseg.EncoderDecoder',
    data_preprocessor=dict(
        type='mmseg.SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(512, 512),
    ),
    backbone=dict(
        type='SkySenseV2SingleModal',  # builds only the tokenizer and prompts of `modality`
        arch='huge',
        modality='hr',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
    ),  # init_cfg (Pretrained): set by each dataset config
    decode_head=dict(
        type='mmseg.UPerHead',
        in_channels=stage_channels,
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        dropout_ratio=0.1,
        num_classes=6,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True
        ),
    ),
    auxiliary_head=dict(
        type='mmseg.FCNHead',
        in_channels=stage_channels[2],
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=6,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4, avg_non_ignore=True
        ),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)
# MoE routing can leave an expert without tokens in a step
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
