# SkySense V2 on AID with training ratio 50% (the test split is the complement of the draw).
_base_ = ['./linear_skysense-v2-huge_2xb32-20k_aid-tr20.py']
train_dataloader = dict(dataset=dict(train_ratio=0.5))
val_dataloader = dict(dataset=dict(train_ratio=0.5))
test_dataloader = dict(dataset=dict(train_ratio=0.5))
