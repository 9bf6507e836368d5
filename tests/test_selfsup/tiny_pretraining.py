"""The tiny pretraining setup of the selfsup tests: a seeded batch of ``PretrainSample`` s as
``PackSkySenseInputs`` makes them (docs/interfaces.md), a text-embedding file and the tiny model
config.

Not a test module: the tests and ``data/make_pinned_reference.py`` load it.
"""

import math
import re
import zlib

import torch

from mmskysense.structures import PretrainSample, ViewGroup

GROUP_SIZES = dict(global_views=(2, 64), local_views=(2, 32))  # (views, HR pixels)
NUM_DATES = dict(s2=3, s1=2)


def pinned_samples(num_samples: int = 2, seed: int = 0) -> list[dict]:
    """``num_samples`` packed samples: raw (unnormalised) views, nodata, padded dates, flipped
    and rotated views, OSM labels and region ids, all from one seeded generator."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(num_samples):
        inputs, valid, boxes, ops, osm = {}, {}, {}, {}, {}
        for group, (v, hr) in GROUP_SIZES.items():
            ms = hr // 8
            inputs[group] = dict(
                hr=torch.rand(v, 3, hr, hr, generator=g) * 255,
                s2=torch.rand(v, NUM_DATES['s2'], 10, ms, ms, generator=g) * 0.4,
                s1=torch.randn(v, NUM_DATES['s1'], 2, ms, ms, generator=g) * 5 - 15,
            )
            masks = dict(
                hr=torch.ones(v, hr, hr, dtype=torch.bool),
                s2=torch.ones(v, NUM_DATES['s2'], ms, ms, dtype=torch.bool),
                s1=torch.ones(v, NUM_DATES['s1'], ms, ms, dtype=torch.bool),
            )
            masks['hr'][:, : hr // 4, : hr // 4] = False  # a nodata corner
            masks['s2'][:, :, -1, :] = False  # a row without S2 data
            valid[group] = masks
            span = 60.0 if group == 'global_views' else 25.0
            lo = torch.rand(v, 2, generator=g) * (80 - span)
            boxes[group] = torch.cat([lo, lo + span], -1).double()
            ops[group] = torch.stack(
                [
                    torch.randint(0, 2, (v,), generator=g),
                    torch.randint(0, 2, (v,), generator=g),
                    torch.randint(0, 4, (v,), generator=g),
                ],
                -1,
            )
            labels = torch.randint(0, 4, (v, hr, hr), generator=g)
            labels[..., hr // 2 :, :] = 255
            osm[group] = labels
        groups = {
            group: ViewGroup(
                images=inputs[group],
                valid_masks=valid[group],
                view_boxes=boxes[group],
                view_geo_ops=ops[group],
                osm_label=osm[group],
            )
            for group in GROUP_SIZES
        }
        sample = PretrainSample(
            **groups,
            date_masks=dict(
                s2=torch.tensor([True, True, i == 0]),
                s1=torch.ones(NUM_DATES['s1'], dtype=torch.bool),
            ),
            doy=dict(s2=torch.tensor([30, 200, 300 if i == 0 else 0]), s1=torch.tensor([50, 250])),
            region_id=(3, 7, 1, 5)[i % 4],
            sample_idx=i,
        )
        out.append(dict(inputs=sample))
    return out


def text_embeddings(path: str) -> str:
    """A seeded 4-class, 12-dimensional text-embedding file for ITA."""
    g = torch.Generator().manual_seed(1)
    torch.save(
        dict(class_names=['a', 'b', 'c', 'd'], embeddings=torch.randn(4, 12, generator=g)), path
    )
    return path


def tiny_model_cfg(text_path: str) -> dict:
    """The tiny SkySenseV2: every objective on, MoE on, small heads."""
    projector = dict(type='DINOHead', hidden_dims=32, bottleneck_dims=16)
    return dict(
        type='SkySenseV2',
        data_preprocessor=dict(type='SkySenseDataPreprocessor'),
        backbone=dict(type='SkySenseV2Backbone', arch='tiny', out_indices=(3,), drop_path_rate=0.0),
        fusion=dict(type='MultiModalTemporalFusion', embed_dims=32, num_layers=1, num_heads=2),
        mgcl_head=dict(
            type='MGCLHead',
            out_dims=dict(pixel=32, object=32, image=48),
            projector=projector,
            num_objects=2,
        ),
        qsacl_head=dict(
            type='QSACLHead',
            out_dims=40,
            projector=projector,
            aggregation=dict(num_queries=3, num_heads=2),
        ),
        gcpl_head=dict(type='GCPLHead', dims=16, loss=dict(num_regions=10, num_prototypes=4)),
        ita_head=dict(type='ITAHead', loss=dict(text_embeddings=text_path)),
    )


def collate(samples: list[dict]) -> dict:
    """mmengine's ``pseudo_collate`` of the samples, as the Runner's dataloader gives them."""
    from mmengine.dataset import pseudo_collate

    return pseudo_collate(samples)


# the module names of commit 5e59d61, by which the pinned reference is keyed:
# old name prefix -> today's (ITA's teacher copy of its projection, never used, is gone)
RENAMES = [
    ('heads.pixel.', 'mgcl_head.projector.pixel.'),
    ('heads.object.', 'mgcl_head.projector.object.'),
    ('heads.image.', 'mgcl_head.projector.image.'),
    ('heads.query.', 'qsacl_head.projector.head.'),
    ('query_aggregation.', 'qsacl_head.projector.aggregation.'),
    ('gcpl_proj.', 'gcpl_head.projector.'),
    ('ita_proj.', 'ita_head.projector.'),
    ('mgcl_loss.', 'mgcl_head.loss_module.'),
    ('qsacl_loss.', 'qsacl_head.loss_module.'),
    ('gcpl_loss.', 'gcpl_head.loss_module.'),
    ('teacher.heads.pixel.', 'teacher.mgcl_head.pixel.'),
    ('teacher.heads.object.', 'teacher.mgcl_head.object.'),
    ('teacher.heads.image.', 'teacher.mgcl_head.image.'),
    ('teacher.heads.query.', 'teacher.qsacl_head.head.'),
    ('teacher.query_aggregation.', 'teacher.qsacl_head.aggregation.'),
    ('teacher.gcpl_proj.', 'teacher.gcpl_head.'),
]


def _swap(name: str, pairs) -> str:
    for a, b in pairs:
        if name.startswith(a):
            return b + name[len(a) :]
    return name


def new_name(old: str) -> str:
    return _swap(old, RENAMES)


def old_name(new: str) -> str:
    return _swap(new, [(b, a) for a, b in RENAMES])


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


_STACKED = re.compile(r'^(?P<head>.*\.)?experts\.(?P<key>fc[12]\.(weight|bias))$')


def unstack_experts(named: dict) -> dict:
    """``name -> tensor`` with the MoE's stacked expert tensors (``...experts.fc1.weight``,
    ``M x ...``) split into the per-expert entries of the layout before the stacking
    (``...experts.<e>.fc1.weight``); other entries as they are."""
    out = {}
    for name, t in named.items():
        m = _STACKED.match(name)
        if m is None or t is None:
            out[name] = t
            continue
        for e in range(t.shape[0]):
            out[f'{m.group("head") or ""}experts.{e}.{m.group("key")}'] = t[e]
    return out


@torch.no_grad()
def deterministic_init(model: torch.nn.Module, name_of=lambda name: name) -> None:
    """Parameters drawn from generators seeded by their names (``name_of`` maps today's names to
    the ones the values are keyed by), so that two builds of the model that create their modules
    in a different order, or name them differently, start from the same weights: norms and
    scales near 1, everything else small."""
    params = unstack_experts(dict(model.named_parameters()))  # one draw per expert, as before
    for name, p in params.items():
        key = name_of(name)
        noise = torch.randn(p.shape, generator=torch.Generator().manual_seed(_seed(key)))
        if key.endswith('last_g'):
            p.fill_(1.0)
        elif key.endswith('logit_scale'):
            p.copy_(math.log(10.0) + 0.01 * noise)
        elif p.dim() == 1 and key.endswith('weight'):
            p.copy_(1.0 + 0.1 * noise)
        else:
            p.copy_(0.05 * noise)
    teacher = getattr(model, 'update_teacher', None)
    if teacher is not None:
        teacher(0.0)


def fingerprint(name: str, t: torch.Tensor) -> torch.Tensor:
    """``[sum, sum of squares, <t, probe>]`` in float64 with a unit-norm probe seeded by the
    name: any change of ``t`` beyond rounding moves the last entry by about its L2 size."""
    t = t.detach().double().reshape(-1)
    probe = torch.randn(
        t.numel(), generator=torch.Generator().manual_seed(_seed(name) + 1), dtype=torch.float64
    )
    probe = probe / probe.norm()
    return torch.stack([t.sum(), (t * t).sum(), (t * probe).sum()])
