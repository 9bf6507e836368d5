# SkySense V2 on BEN-MM, paper Table 3c (c) (ii) S2 + S1: mAP 93.8 (SkySense V2).
# Multi-label linear head on the pooled F_fus map (pretrained fusion of S2 and S1 tokens).
_base_ = [
    '../_base_/models/linear_cls_skysense_v2_mm.py',
    '../_base_/datasets/bigearthnet_mm.py',
    '../_base_/schedules/finetune_cls_20k.py',
]
modalities = ['s2', 's1']
model = dict(modalities=modalities, data_preprocessor={{_base_.data_preprocessor}})
train_dataloader = dict(dataset=dict(modalities=modalities))
val_dataloader = dict(dataset=dict(modalities=modalities))
test_dataloader = dict(dataset=dict(modalities=modalities))
