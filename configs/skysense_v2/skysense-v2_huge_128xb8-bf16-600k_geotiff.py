# SkySense V2 pretraining, the paper's recipe (section 4.1): the `huge` unified backbone, AdamW,
# lr 2e-4 with cosine decay to 1e-6, 600k iterations, batch 1024 = 8 per GPU x 128 GPUs,
# 2 global + 6 local crops, activation checkpointing, bf16 (autocast, no loss scaling).
# Data parallel with DDP; the sharded variant (FSDP2, FlexibleRunner) is
# skysense-v2_huge_128xb8-fsdp-bf16-600k_geotiff.py (the README says when to use which).
# The model (configs/_base_/models/skysense_v2_pretrain.py) is the paper's as it is; values the
# paper does not give are config values there (marked "inferred" in docs).
#   bash tools/dist_train.sh configs/skysense_v2/skysense-v2_huge_128xb8-bf16-600k_geotiff.py 8
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/skysense_pretrain_geotiff.py',
    '../_base_/schedules/pretrain_adamw.py',
    '../_base_/models/skysense_v2_pretrain.py',
]

data_root = 'data/skysense_pretrain/'
num_frames = dict(s2=10, s1=5)  # paper: 10 S2 and 5 S1 dates per iteration

model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(with_cp=True),  # activation checkpointing per block
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
