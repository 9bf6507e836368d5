# SkySense V2 pretraining, the paper's recipe (section 4.1): the `huge` unified backbone, AdamW,
# lr 2e-4 with cosine decay to 1e-6, 600k iterations, batch 1024 = 8 per GPU x 128 GPUs,
# 2 global + 6 local crops, activation checkpointing, bf16.
# Values the paper does not give (marked "inferred" in docs) are config values: the loss weights
# lambda_1..lambda_3 (eq. 5), head sizes, GCPL's 4096 regions x 100 prototypes (SkySense V1),
# m = 16 queries, the fusion depth, the teacher momentum / temperature schedules (DINO).
#   bash tools/dist_train.sh configs/skysense_v2/skysense-v2_huge_8xb8-128n-600k_pretrain.py 8
# The ITA text embeddings: python tools/misc/gen_text_embeddings.py data/osm_text_embeddings.pth
#   --classes <the OSM class names of your label rasters, in label order>
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/skysense_pretrain_geotiff.py',
]

data_root = 'data/skysense_pretrain/'
text_embeddings = 'data/osm_text_embeddings.pth'
num_frames = dict(s2=10, s1=5)  # paper: 10 S2 and 5 S1 dates per iteration

# unified backbone: C = 352, stage-4 width 8C
embed_dims = 352
last_dims = 8 * embed_dims
fused_dims = 1024
modalities = ('hr', 's2', 's1')

model = dict(
    type='SkySenseV2',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(
        type='SkySenseV2Backbone',
        arch='huge',
        out_indices=(3,),
        drop_path_rate=0.2,
        use_moe=True,
        with_cp=True,
    ),  # activation checkpointing per block
    fusion=dict(
        type='MultiModalTemporalFusion',
        in_dims=last_dims,
        embed_dims=fused_dims,
        modalities=modalities,
        num_layers=2,
        num_heads=16,
    ),
    query_aggregation=dict(
        type='QueryAggregation', embed_dims=fused_dims, num_queries=16, num_heads=16
    ),
    heads=dict(
        pixel=dict(
            type='DINOHead', in_dims=last_dims, out_dims=8192, hidden_dims=2048, bottleneck_dims=256
        ),
        object=dict(
            type='DINOHead', in_dims=last_dims, out_dims=8192, hidden_dims=2048, bottleneck_dims=256
        ),
        image=dict(
            type='DINOHead',
            in_dims=last_dims,
            out_dims=65536,
            hidden_dims=2048,
            bottleneck_dims=256,
        ),
        query=dict(
            type='DINOHead',
            in_dims=fused_dims,
            out_dims=65536,
            hidden_dims=2048,
            bottleneck_dims=256,
        ),
    ),
    mgcl_loss=dict(
        type='MGCLLoss',
        out_dims=dict(pixel=8192, object=8192, image=65536),
        modalities=modalities,
        student_temp=0.1,
        center_momentum=0.9,
    ),
    qsacl_loss=dict(type='QSACLLoss', out_dims=65536, student_temp=0.1, center_momentum=0.9),
    gcpl_loss=dict(
        type='GCPLLoss',
        num_regions=4096,
        num_prototypes=100,
        dims=256,
        temperature=0.1,
        epsilon=0.05,
        sinkhorn_iters=3,
        momentum=0.99,
    ),
    ita_loss=dict(type='ITALoss', text_embeddings=text_embeddings, temperature=0.07),
    # eq. 5: lambda_1 MGCL, lambda_2 ITA, lambda_3 QSACL; GCPL and the MoE balance added
    loss_weights=dict(mgcl=1.0, ita=1.0, qsacl=1.0, gcpl=1.0, moe=0.01),
    num_objects=8,
    teacher_temp=0.04,
    base_momentum=0.996,
)

train_dataloader = dict(
    batch_size=8,  # per GPU; 128 GPUs -> 1024
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, on_bad_sample='skip'),
)

optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            # learned tokens and embeddings are not decayed
            'prompts.tokens': dict(decay_mult=0.0),
            'logit_scale': dict(decay_mult=0.0),
            'cpb_mlp': dict(decay_mult=0.0),
            'query_aggregation.queries': dict(decay_mult=0.0),
            'fusion.fusion_token': dict(decay_mult=0.0),
            'fusion.modality_embed': dict(decay_mult=0.0),
        },
    ),
)

max_iters = 600000
warmup_iters = 10000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters - warmup_iters,
        eta_min=1e-6,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters,
    ),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)

custom_hooks = [
    dict(type='TeacherMomentumHook', base_momentum=0.996, end_momentum=1.0),
    dict(type='TeacherTemperatureHook', start=0.04, end=0.07, warmup_iters=30000),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000, max_keep_ckpts=3),
)
log_processor = dict(by_epoch=False, window_size=50)
env_cfg = dict(dist_cfg=dict(backend='nccl'))
# batch 1024 = 8 x 128; --auto-scale-lr rescales lr when run on fewer GPUs
auto_scale_lr = dict(base_batch_size=1024, enable=False)
randomness = dict(seed=0, diff_rank_seed=True)
# top-1 MoE routing can leave an expert without tokens in a step: DDP must tolerate unused params
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
