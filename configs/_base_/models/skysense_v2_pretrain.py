# SkySense V2 pretraining model (paper section 3.2): the unified backbone, F_fus, and the
# heads of eq. 5 (MGCL, QSACL, GCPL, ITA) trained by the EMA teacher / student scheme, at the
# paper's size (`huge`). Every recipe in configs/skysense_v2/ inherits it and overrides only what
# differs (the backbone's arch, head sizes, modalities, loss weights); the data preprocessor comes
# with the data (configs/_base_/datasets/skysense_pretrain_geotiff.py):
#   model = dict(data_preprocessor={{_base_.data_preprocessor}}, ...)
# Values the paper does not give (marked "inferred" in docs) are config values: the loss weights
# lambda_1..lambda_3 (eq. 5), head sizes, GCPL's 4096 regions x 100 prototypes (SkySense V1),
# m = 16 queries, the fusion depth, the teacher momentum / temperature (DINO).
# The ITA text embeddings: python tools/misc/gen_text_embeddings.py data/osm_text_embeddings.pth
#   --classes <the OSM class names of your label rasters, in label order>
text_embeddings = 'data/osm_text_embeddings.pth'
fused_dims = 1024  # F_fus; the backbone's arch gives the other widths
modalities = ('hr', 's2', 's1')
projector = dict(type='DINOHead', hidden_dims=2048, bottleneck_dims=256)

model = dict(
    type='SkySenseV2',
    backbone=dict(
        type='SkySenseV2Backbone',
        arch='huge',
        out_indices=(3,),
        drop_path_rate=0.2,
        use_moe=True,
        with_cp=False,
    ),
    fusion=dict(
        type='MultiModalTemporalFusion',
        embed_dims=fused_dims,
        modalities=modalities,
        num_layers=2,
        num_heads=16,
    ),
    mgcl_head=dict(
        type='MGCLHead',
        out_dims=dict(pixel=8192, object=8192, image=65536),
        modalities=modalities,
        projector=projector,
        num_objects=8,
        loss=dict(type='MGCLLoss', student_temp=0.1, center_momentum=0.9),
    ),
    qsacl_head=dict(
        type='QSACLHead',
        out_dims=65536,
        aggregation=dict(type='QueryAggregation', num_queries=16, num_heads=16),
        projector=projector,
        loss=dict(type='QSACLLoss', student_temp=0.1, center_momentum=0.9),
    ),
    gcpl_head=dict(
        type='GCPLHead',
        dims=256,
        loss=dict(
            type='GCPLLoss',
            num_regions=4096,
            num_prototypes=100,
            temperature=0.1,
            epsilon=0.05,
            sinkhorn_iters=3,
            momentum=0.99,
        ),
    ),
    ita_head=dict(
        type='ITAHead', loss=dict(type='ITALoss', text_embeddings=text_embeddings, temperature=0.07)
    ),
    # eq. 5: lambda_1 MGCL, lambda_2 ITA, lambda_3 QSACL; GCPL and the MoE balance added
    loss_weights=dict(mgcl=1.0, ita=1.0, qsacl=1.0, gcpl=1.0, moe=0.01),
    teacher_temp=0.04,
    base_momentum=0.996,
)
