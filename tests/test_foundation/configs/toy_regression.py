_base_ = ['../../../configs/_base_/default_runtime.py']

custom_imports = dict(imports=['foundation_toys'], allow_failed_imports=False)

model = dict(type='ToyRegressor')
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ToyRegressionDataset', num_samples=64),
)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=12)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=0.01, weight_decay=0.01))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[8], gamma=0.5)]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=6, by_epoch=False),
)
custom_hooks = [dict(type='DumpRankStateHook')]
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
