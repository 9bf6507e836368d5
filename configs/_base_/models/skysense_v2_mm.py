# The multi-modal downstream model of the paper's Table 3: the unified SkySense V2 backbone in
# multi-modal mode (one tokenizer per modality, shared weights), then MultiModalFusion, which
# brings the modalities to a common grid and fuses them (docs/multimodal.md); the task files
# (upernet_/fcn_/linear_cls_skysense_v2_mm.py) add the head. `modalities` (a Table 3 row) is set
# by each config; the backbone and the fusion are built for those only.
embed_dims = 352  # C of the 'huge' arch; stages have C, 2C, 4C, 8C channels
fused_dims = 1024  # F_fus width of the pretraining recipe (configs/skysense_v2/)
stage_channels = [embed_dims * 2**i for i in range(4)]
# what the heads read: UperNet the four fused stages (the last is F_fus), FCN / linear F_fus
upernet_in_channels = stage_channels[:3] + [fused_dims]
aux_in_channels = stage_channels[2]
pretrained = 'checkpoints/skysense_v2_huge_pretrain.pth'  # a SkySense V2 pretraining checkpoint
backbone = dict(
    type='SkySenseV2Backbone',
    arch='huge',
    modalities=dict(
        hr=dict(in_channels=3, kind='hr'),  # HR optical RGB (Planet, GEP): strides 4..32
        s2=dict(in_channels=10, kind='ms'),  # Sentinel-2: stride 4 at every stage
        s1=dict(in_channels=2, kind='ms'),  # Sentinel-1 VV, VH (dB)
    ),
    out_indices=(0, 1, 2, 3),
    drop_path_rate=0.3,
    # checkpoint_filter_fn takes the EMA teacher's backbone (teacher.backbone.*) of a pretraining
    # checkpoint (paper Figure 5: the teacher's parameters are used downstream)
    init_cfg=dict(type='Pretrained', checkpoint=pretrained),
)
fusion_neck = dict(
    type='MultiModalFusion',
    modalities=dict(hr='hr', s2='ms', s1='ms'),  # kinds; the first HR one is the grid reference
    in_channels=stage_channels,
    stages=(0, 1, 2, 3),
    mode='temporal_fusion',  # or 'sum' / 'concat' (no pretrained fusion)
    shallow_mode='sum',
    temporal_pooling=dict(type='TemporalPooling', mode='attention'),
    fusion=dict(
        type='MultiModalTemporalFusion',
        embed_dims=fused_dims,
        modalities=('hr', 's2', 's1'),  # as in pretraining, so that its weights load
        num_layers=2,
        num_heads=16,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),  # teacher.fusion.*
    ),
)
# MoE routing can leave an expert without tokens, and a modality set leaves prompt tokens unused
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
# the last stage only, fused by F_fus (the FCN and linear heads), at stride 4 of an MS reference
last_stage_backbone = dict(backbone, out_indices=(3,))
last_stage_fusion_neck = dict(
    fusion_neck, in_channels=stage_channels[3:], stages=(3,), ms_scales=(1,)
)
