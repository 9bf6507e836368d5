# Oriented R-CNN (mmrotate, le90) with the SkySense V2 backbone (paper Table 2b, DIOR-R, FAIR1M):
# the Faster R-CNN base with mmrotate's oriented RPN, rotated RoI extractor and box coders.
# RoIAlignRotated and the nms types are not registry names (mmdet takes them from mmcv.ops).
_base_ = ['./faster_rcnn_skysense_v2_fpn.py']

angle_version = 'le90'
model = dict(
    data_preprocessor=dict(boxtype2tensor=False),
    rpn_head=dict(
        type='mmrotate.OrientedRPNHead',
        anchor_generator=dict(use_box_type=True),
        bbox_coder=dict(
            _delete_=True,
            type='mmrotate.MidpointOffsetCoder',
            angle_version=angle_version,
            target_means=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            target_stds=[1.0, 1.0, 1.0, 1.0, 0.5, 0.5],
        ),
        loss_bbox=dict(type='mmdet.SmoothL1Loss', beta=0.1111111111111111, loss_weight=1.0),
    ),
    roi_head=dict(
        bbox_roi_extractor=dict(
            type='mmrotate.RotatedSingleRoIExtractor',
            roi_layer=dict(
                _delete_=True, type='RoIAlignRotated', out_size=7, sample_num=2, clockwise=True
            ),
        ),
        bbox_head=dict(
            predict_box_type='rbox',
            bbox_coder=dict(
                _delete_=True,
                type='mmrotate.DeltaXYWHTRBBoxCoder',
                angle_version=angle_version,
                norm_factor=None,
                edge_swap=True,
                proj_xy=True,
                target_means=(0.0, 0.0, 0.0, 0.0, 0.0),
                target_stds=(0.1, 0.1, 0.2, 0.2, 0.1),
            ),
            reg_class_agnostic=True,
            loss_bbox=dict(type='mmdet.SmoothL1Loss', beta=1.0, loss_weight=1.0),
        ),
    ),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(iou_calculator=dict(type='mmrotate.RBbox2HBboxOverlaps2D')),
            allowed_border=0,
        ),
        rpn_proposal=dict(max_per_img=2000, nms=dict(iou_threshold=0.8)),
        rcnn=dict(assigner=dict(iou_calculator=dict(type='mmrotate.RBboxOverlaps2D'))),
    ),
    test_cfg=dict(
        rpn=dict(nms_pre=2000, max_per_img=2000, nms=dict(iou_threshold=0.8)),
        rcnn=dict(
            _delete_=True,
            nms_pre=2000,
            min_bbox_size=0,
            score_thr=0.05,
            nms=dict(type='nms_rotated', iou_threshold=0.1),
            max_per_img=2000,
        ),
    ),
)
