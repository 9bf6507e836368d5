# SkySense V2 pretraining, the paper's recipe (section 4.1): the `huge` unified backbone, AdamW,
# lr 2e-4 with cosine decay to 1e-6, 600k iterations, batch 1024 = 8 per GPU x 128 GPUs,
# 2 global + 6 local crops, activation checkpointing, bf16 (autocast, no loss scaling).
# Data parallel with DDP; the sharded variant (FSDP2, FlexibleRunner) is
# skysense-v2_huge_128xb8-fsdp-bf16-600k_geotiff.py (the README says when to use which).
# Values the paper does not give (marked "inferred" in docs) are config values: the loss weights
# lambda_1..lambda_3 (eq. 5), head sizes, GCPL's 4096 regions x 100 prototypes (SkySense V1),
# m = 16 queries, the fusion depth, the teacher momentum / temperature schedules (DINO).
#   bash tools/dist_train.sh configs/skysense_v2/skysense-v2_huge_128xb8-bf16-600k_geotiff.py 8
# The ITA text embeddings: python tools/misc/gen_text_embeddings.py data/osm_text_embeddings.pth
#   --classes <the OSM class names of your label rasters, in label order>
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/skysense_pretrain_geotiff.py',
    '../_base_/schedules/pretrain_adamw.py',
]

data_root = 'data/skysense_pretrain/'
text_embeddings = 'data/osm_text_embeddings.pth'
num_frames = dict(s2=10, s1=5)  # paper: 10 S2 and 5 S1 dates per iteration

fused_dims = 1024  # F_fus; the backbone's arch gives the other widths
modalities = ('hr', 's2', 's1')
projector = dict(type='DINOHead', hidden_dims=2048, bottleneck_dims=256)

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
        embed_dims=fused_dims,
        modalities=modalities,
        num_layers=2,
        num_heads=16,
    ),
    mgcl_head=dict(
        type='MGCLHead',
        out_dims=dict(pixel=8192, object=8192, image=65536),
        modalities=modalities,
        projector=projector,
        num_objects=8,
        loss=dict(type='MGCLLoss', student_temp=0.1, center_momentum=0.9),
    ),
    qsacl_head=dict(
        type='QSACLHead',
        out_dims=65536,
        aggregation=dict(type='QueryAggregation', num_queries=16, num_heads=16),
        projector=projector,
        loss=dict(type='QSACLLoss', student_temp=0.1, center_momentum=0.9),
    ),
    gcpl_head=dict(
        type='GCPLHead',
        dims=256,
        loss=dict(
            type='GCPLLoss',
            num_regions=4096,
            num_prototypes=100,
            temperature=0.1,
            epsilon=0.05,
            sinkhorn_iters=3,
            momentum=0.99,
        ),
    ),
    ita_head=dict(
        type='ITAHead', loss=dict(type='ITALoss', text_embeddings=text_embeddings, temperature=0.07)
    ),
    # eq. 5: lambda_1 MGCL, lambda_2 ITA, lambda_3 QSACL; GCPL and the MoE balance added
    loss_weights=dict(mgcl=1.0, ita=1.0, qsacl=1.0, gcpl=1.0, moe=0.01),
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

# bf16 autocast without a GradScaler: bf16 needs no loss scaling, and the scaler reads its
# inf flags on the host every step
optim_wrapper = dict(type='AutocastOptimWrapper', dtype='bfloat16', optimizer=dict(lr=2e-4))

max_iters = 600000
warmup_iters = 10000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    # no `end` / `T_max`: mmengine ends the decay at train_cfg.max_iters, whatever it is set to
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=warmup_iters),
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
# Every student parameter gets a gradient at every step (idle MoE experts get zeros: they run on
# empty slices), so DDP needs no search for unused parameters; and the buffers (DINO centres, the
# GCPL prototypes: about 400 MB) are updated identically on every rank by all-reduced
# statistics, so broadcasting them from rank 0 at each forward would only cost bandwidth.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False, broadcast_buffers=False
)
