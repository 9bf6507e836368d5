# Scene classification (paper Table 1): SkySense V2 backbone, global average pooling of the last
# stage, linear head. default_scope is mmskysense: mmpretrain modules, nested ones included,
# carry their scope. Datasets set the modality, the head's classes and the normalisation.
# The backbone's width, stated once: C of the arch below; stage i has C * 2**i channels.
embed_dims = 352  # 'huge'
stage_channels = [embed_dims * 2**i for i in range(4)]
last_channels = stage_channels[-1]  # the head reads the last stage
model = dict(
    type='mmpretrain.ImageClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
    ),
    backbone=dict(
        type='SkySenseV2SingleModal',  # builds only the tokenizer and prompts of `modality`
        arch='huge',
        modality='hr',
        out_indices=(3,),
        drop_path_rate=0.2,
    ),  # init_cfg (Pretrained): set by each dataset config
    neck=dict(type='mmpretrain.GlobalAveragePooling'),
    head=dict(
        type='mmpretrain.LinearClsHead',
        num_classes=1000,
        in_channels=last_channels,
        loss=dict(type='mmpretrain.CrossEntropyLoss', loss_weight=1.0),
        topk=(1,),
    ),
)
# MoE routing can leave an expert without tokens in a step
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
