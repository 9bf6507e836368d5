"""The SkySenseV2 algorithm on a synthetic preprocessed batch: the EMA teacher, the losses it
logs, and the checks it makes on its inputs."""

import math
from types import SimpleNamespace

import pytest
import torch
from mmengine.optim import OptimWrapper

from mmskysense.engine.hooks import TeacherMomentumHook
from mmskysense.registry import MODELS
from mmskysense.utils import register_all_modules

register_all_modules()

MODALITIES = ('hr', 's2', 's1')


def tiny_model_cfg(text_path: str) -> dict:
    last, fused = 256, 32
    head = dict(type='DINOHead', hidden_dims=32, bottleneck_dims=16)
    return dict(
        type='SkySenseV2',
        backbone=dict(type='SkySenseV2Backbone', arch='tiny', out_indices=(3,), drop_path_rate=0.0),
        fusion=dict(
            type='MultiModalTemporalFusion',
            in_dims=last,
            embed_dims=fused,
            num_layers=1,
            num_heads=2,
        ),
        query_aggregation=dict(
            type='QueryAggregation', embed_dims=fused, num_queries=3, num_heads=2
        ),
        heads=dict(
            pixel=dict(head, in_dims=last, out_dims=32),
            object=dict(head, in_dims=last, out_dims=32),
            image=dict(head, in_dims=last, out_dims=48),
            query=dict(head, in_dims=fused, out_dims=40),
        ),
        mgcl_loss=dict(type='MGCLLoss', out_dims=dict(pixel=32, object=32, image=48)),
        qsacl_loss=dict(type='QSACLLoss', out_dims=40),
        gcpl_loss=dict(type='GCPLLoss', num_regions=10, num_prototypes=4, dims=16),
        ita_loss=dict(type='ITALoss', text_embeddings=text_path),
        num_objects=2,
    )


def synthetic_batch(b: int = 2, seed: int = 0) -> dict:
    """A preprocessed batch as SkySenseDataPreprocessor returns it (docs/interfaces.md)."""
    g = torch.Generator().manual_seed(seed)
    sizes = dict(global_views=(2, 64), local_views=(2, 32))
    t = dict(s2=3, s1=2)
    inputs = dict(valid_masks={}, view_boxes={}, view_geo_ops={}, osm_label={})
    for group, (v, hr) in sizes.items():
        ms = hr // 8
        inputs[group] = dict(
            hr=torch.randn(b, v, 3, hr, hr, generator=g),
            s2=torch.randn(b, v, t['s2'], 10, ms, ms, generator=g),
            s1=torch.randn(b, v, t['s1'], 2, ms, ms, generator=g),
        )
        valid = dict(
            hr=torch.ones(b, v, hr, hr, dtype=torch.bool),
            s2=torch.ones(b, v, t['s2'], ms, ms, dtype=torch.bool),
            s1=torch.ones(b, v, t['s1'], ms, ms, dtype=torch.bool),
        )
        valid['hr'][:, :, : hr // 4, : hr // 4] = False  # a nodata corner
        inputs['valid_masks'][group] = valid
        # global views cover [0, 80]^2 partly; local views lie inside
        span = 60.0 if group == 'global_views' else 25.0
        lo = torch.rand(b, v, 2, generator=g) * (80 - span)
        inputs['view_boxes'][group] = torch.cat([lo, lo + span], -1).double()
        inputs['view_geo_ops'][group] = torch.stack(
            [
                torch.randint(0, 2, (b, v), generator=g),
                torch.randint(0, 2, (b, v), generator=g),
                torch.randint(0, 4, (b, v), generator=g),
            ],
            -1,
        )
        osm = torch.randint(0, 4, (b, v, hr, hr), generator=g)
        osm[..., hr // 2 :, :] = 255
        inputs['osm_label'][group] = osm
    inputs['date_masks'] = dict(
        s2=torch.tensor([[True, True, False]] * b), s1=torch.ones(b, 2, dtype=torch.bool)
    )
    inputs['doy'] = dict(s2=torch.tensor([[30, 200, 0]] * b), s1=torch.tensor([[50, 250]] * b))
    inputs['region_id'] = torch.tensor([3, 7][:b])
    return inputs


class _PassThrough(torch.nn.Module):
    """Stands in for the data preprocessor: the batch is already preprocessed."""

    def forward(self, data, training=False):
        return data


@pytest.fixture(scope='module')
def text_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('ita') / 'text.pth')
    torch.save(dict(class_names=['a', 'b', 'c', 'd'], embeddings=torch.randn(4, 12)), path)
    return path


def _build(text_file):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(text_file))
    model.init_weights()
    model.data_preprocessor = _PassThrough()
    return model.train()


def test_teacher_takes_no_gradient_and_is_the_ema_of_the_student(text_file):
    model = _build(text_file)
    names = model.student_module_names
    for name in names:  # init_weights starts the teacher as a copy of the student
        for (k, s), (_, t) in zip(
            getattr(model, name).named_parameters(), model.teacher[name].named_parameters()
        ):
            assert torch.equal(s, t), k
    assert not any(p.requires_grad for p in model.teacher.parameters())
    assert not model.teacher.training

    trainable = [p for p in model.parameters() if p.requires_grad]
    optim = OptimWrapper(torch.optim.SGD(trainable, lr=0.5))
    before = {
        n: {k: p.detach().clone() for k, p in model.teacher[n].named_parameters()} for n in names
    }
    log = model.train_step(dict(inputs=synthetic_batch(), data_samples=[]), optim)
    assert all(p.grad is None for p in model.teacher.parameters())
    assert math.isfinite(log['loss'].item())

    runner = SimpleNamespace(
        model=model,
        iter=3,
        max_iters=10,
        message_hub=SimpleNamespace(update_scalar=lambda *a: None),
    )
    TeacherMomentumHook(base_momentum=0.9, end_momentum=1.0).after_train_iter(runner, 0)
    m = 1 - 0.1 * (math.cos(math.pi * 3 / 10) + 1) / 2
    moved = 0
    for n in names:
        student = dict(getattr(model, n).named_parameters())
        for k, t in model.teacher[n].named_parameters():
            expected = m * before[n][k] + (1 - m) * student[k].detach()
            torch.testing.assert_close(t, expected, rtol=1e-6, atol=1e-7, msg=f'{n}.{k}')
            moved += int(not torch.equal(student[k], before[n][k]))
    assert moved > 10  # the step changed the student, so the check above is not trivial


def test_loss_logs_every_term_and_expert_load(text_file):
    model = _build(text_file)
    losses = model.loss(synthetic_batch(seed=1), [])
    for key in ('loss_mgcl', 'loss_qsacl', 'loss_gcpl', 'loss_ita', 'loss_moe'):
        assert key in losses and torch.isfinite(losses[key]), key
        assert losses[key].requires_grad, key
    for g in ('pixel', 'object', 'image'):
        for m in MODALITIES:
            assert torch.isfinite(losses[f'mgcl_{g}_{m}'])
    loads = {k: v for k, v in losses.items() if k.startswith('expert_load.')}
    assert loads  # per layer, per expert token fractions of the tiny MoE
    per_layer = {}
    for k, v in loads.items():
        per_layer.setdefault(k.rsplit('.', 1)[0], []).append(v.item())
    for fractions in per_layer.values():
        assert sum(fractions) == pytest.approx(1.0, abs=1e-4)
    total, _ = model.parse_losses(losses)
    expected = sum(v for k, v in losses.items() if k.startswith('loss_'))
    torch.testing.assert_close(total, expected)


def test_pixel_pairs_respect_nodata_and_bad_inputs_are_named(text_file):
    model = _build(text_file)
    batch = synthetic_batch(seed=2)
    for group in ('global_views', 'local_views'):
        for m in MODALITIES:
            batch['valid_masks'][group][m][:] = False  # nothing valid anywhere
    with torch.no_grad():
        losses = model.loss(batch, [])
    for m in MODALITIES:  # no valid pair: zero pixel and object terms
        assert losses[f'mgcl_pixel_{m}'] == 0 and losses[f'mgcl_object_{m}'] == 0
    batch = synthetic_batch()
    del batch['view_boxes']
    with pytest.raises(KeyError, match='view_boxes'):
        model.loss(batch, [])
    batch = synthetic_batch()
    batch['region_id'] = torch.tensor([3, 12])
    with pytest.raises(ValueError, match='region_id'):
        model.loss(batch, [])
