# SkySense V2 on AID with training ratio 50% (the test split is the complement of the draw).
_base_ = ['./skysense_v2_aid.py']
train_dataloader = dict(dataset=dict(train_ratio=0.5))
val_dataloader = dict(dataset=dict(train_ratio=0.5))
test_dataloader = dict(dataset=dict(train_ratio=0.5))
