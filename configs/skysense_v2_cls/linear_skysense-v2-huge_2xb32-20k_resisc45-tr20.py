# SkySense V2 on NWPU-RESISC45 with training ratio 20% (the test split is the complement).
_base_ = ['./linear_skysense-v2-huge_2xb32-20k_resisc45-tr10.py']
train_dataloader = dict(dataset=dict(train_ratio=0.2))
val_dataloader = dict(dataset=dict(train_ratio=0.2))
test_dataloader = dict(dataset=dict(train_ratio=0.2))
