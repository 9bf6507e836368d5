# Binary change detection (paper Table 2c: "the basic change detector in [9]"): BIT (Chen, Qi and
# Shi, TGRS 2021) on the SkySense V2 backbone. Each date goes through the same backbone (shared
# weights, one pass over both dates); SiameseFusionNeck concatenates the two dates' maps stage by
# stage; BITHead resizes each date's stages to the finest grid, projects them to C = 32 and runs
# BIT: 4 semantic tokens per date, a 1-layer transformer encoder over both dates' tokens, an
# 8-layer decoder back to each date's pixels, then classifies |X1' - X2'| (2 classes, 1 = changed).
# Dataset configs pick the backbone's modality.
# The backbone's width, stated once: C of the arch below; stage i has C * 2**i channels per date.
embed_dims = 352  # 'huge'
stage_channels = [embed_dims * 2**i for i in range(4)]
norm_cfg = dict(type='SyncBN', requires_grad=True)  # reverted to BN when not distributed
model = dict(
    type='SiameseEncoderDecoder',
    data_preprocessor=dict(
        type='ChangeDetDataPreprocessor',  # statistics per band of one date, applied to both
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        pad_val=0,
        seg_pad_val=255,
    ),
    backbone=dict(
        type='SkySenseV2SingleModal',  # builds only the tokenizer and prompts of `modality`
        arch='huge',
        modality='hr',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
    ),  # init_cfg (Pretrained): set by each dataset config
    neck=dict(type='SiameseFusionNeck', policy='concat'),
    decode_head=dict(
        type='BITHead',
        # concatenated dates: twice the backbone's channels at every stage
        in_channels=[2 * c for c in stage_channels],
        in_index=[0, 1, 2, 3],
        channels=32,
        num_tokens=4,
        enc_depth=1,
        enc_heads=8,
        enc_head_dim=64,
        dec_depth=8,
        dec_heads=8,
        dec_head_dim=8,
        mlp_ratio=2.0,
        pos_embed='learned',
        upsample=4,
        dropout_ratio=0.0,
        num_classes=2,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True
        ),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)
# MoE routing can leave an expert without tokens in a step
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
