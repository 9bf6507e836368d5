# LEVIR-CD with BIT's test protocol: each 1024 px test pair scored as 16 non-overlapping
# 256 x 256 px tiles (sliding window, stride = window), the same model and training as
# bit_skysense-v2-huge_8xb4-40k_levir-cd-256x256.py (whole 1024 px images).
_base_ = ['./bit_skysense-v2-huge_8xb4-40k_levir-cd-256x256.py']
model = dict(test_cfg=dict(mode='slide', crop_size=(256, 256), stride=(256, 256)))
