# SkySense V2 on Dyna.-MM, paper Table 3a (a) (ii) S2: mIoU 47.5 (SkySense V2). UperNet on the
# monthly Sentinel-2 series; the modalities are fused on the common grid (MultiModalFusion, F_fus
# with its pretrained weights on the last stage). Another combination: change `modalities`.
_base_ = [
    '../_base_/models/upernet_skysense_v2_mm.py',
    '../_base_/datasets/dynamic_earthnet_mm.py',
    '../_base_/schedules/finetune_seg_40k.py',
]
modalities = ['s2']  # hr = Planet (through the HR branch), s2, s1
model = dict(
    modalities=modalities,
    data_preprocessor={{_base_.data_preprocessor}},
    decode_head=dict(num_classes=6),
    auxiliary_head=dict(num_classes=6),
)
train_dataloader = dict(dataset=dict(modalities=modalities))
val_dataloader = dict(dataset=dict(modalities=modalities))
test_dataloader = val_dataloader
