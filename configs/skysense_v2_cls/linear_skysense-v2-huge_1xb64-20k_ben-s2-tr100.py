# SkySense V2 on BigEarthNet-S2 with the whole official train split (TR 100%).
_base_ = ['./linear_skysense-v2-huge_1xb64-20k_ben-s2-tr10.py']
train_dataloader = dict(dataset=dict(train_ratio=1.0))
