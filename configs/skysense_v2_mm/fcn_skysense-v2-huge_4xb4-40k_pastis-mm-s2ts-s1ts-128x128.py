# SkySense V2 on PASTIS-MM, paper Table 3b (b) (iii) S2-Ts + S1-Ts: OA 85.6 (SkySense V2; `aAcc`).
# FCN head on the Sentinel-2 and Sentinel-1 series, fused by F_fus (pretrained) on the
# S2 stride-4 grid (40 m). Cross-validation fold `cv_fold` of the 5-fold protocol.
_base_ = [
    '../_base_/models/fcn_skysense_v2_mm.py',
    '../_base_/datasets/pastis_mm.py',
    '../_base_/schedules/finetune_seg_40k.py',
]
modalities = ['s2', 's1']
model = dict(
    modalities=modalities,
    data_preprocessor={{_base_.data_preprocessor}},
    decode_head=dict(num_classes=19),
)
train_dataloader = dict(dataset=dict(modalities=modalities))
val_dataloader = dict(dataset=dict(modalities=modalities))
test_dataloader = dict(dataset=dict(modalities=modalities))
