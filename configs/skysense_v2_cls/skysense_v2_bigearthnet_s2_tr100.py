# SkySense V2 on BigEarthNet-S2 with the whole official train split (TR 100%).
_base_ = ['./skysense_v2_bigearthnet_s2.py']
train_dataloader = dict(dataset=dict(train_ratio=1.0))
