# A short fine-tune of the tiny backbone on AID (TR 20 %) on one CPU core: a check that the
# dataset, the split file, training and tools/test.py work on the real release, not the paper's
# recipe (linear_skysense-v2-huge_2xb32-20k_aid-tr20.py). What differs, and why:
# - the tiny arch without MoE (as the AID pretraining recipes build it, so that their teacher's
#   backbone loads), randomly initialised unless `pretrained` is set, e.g. the teacher of
#   configs/skysense_v2/skysense-v2_tiny_1xb32-cpu-1500it-ssl_aid.py:
#     python tools/model_converters/extract_teacher_backbone.py WORK_DIR/iter_1500.pth tiny.pth
#     --cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.checkpoint=tiny.pth
# - 128 px inputs (the smallest the shared 150 px copy allows without upsampling and that the
#   tiny arch's windows divide), batch 32, 600 iterations (about 10 epochs of TR 20 %), lr 1e-3
#   with a 60-iteration warm-up: the tiny model's supervised setting of the CPU checks.
#
#   python tools/dataset_converters/make_image_split.py data/AID \
#       data/aid_splits/aid_tr20_seed0.json --train-ratio 0.2 --seed 0
#   OMP_NUM_THREADS=1 python tools/train.py \
#       configs/skysense_v2_cls/linear_skysense-v2-tiny_1xb32-cpu-600it_aid-tr20.py
#   python tools/test.py configs/skysense_v2_cls/linear_skysense-v2-tiny_1xb32-cpu-600it_aid-tr20.py \
#       work_dirs/linear_skysense-v2-tiny_1xb32-cpu-600it_aid-tr20/iter_600.pth
_base_ = ['./linear_skysense-v2-huge_2xb32-20k_aid-tr20.py']

crop = 128
max_iters = 600
warmup_iters = 60
model = dict(
    backbone=dict(arch='tiny', use_moe=False, drop_path_rate=0.1, init_cfg=None),
    head=dict(in_channels=32 * 2**3),  # the tiny arch's last stage (embed_dims 32)
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmpretrain.RandomResizedCrop', scale=crop),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='mmpretrain.PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(crop, crop)),
    dict(type='mmpretrain.PackInputs'),
]
# one core per run: no worker processes
loader = dict(batch_size=32, num_workers=0, persistent_workers=False)
train_dataloader = dict(**loader, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(**loader, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=warmup_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None),
)
