"""The SkySenseV2 algorithm on the seeded tiny batch, through the production path (packed
samples -> SkySenseDataPreprocessor -> loss): the EMA teacher, the terms it logs, which modules
each loss trains, the pixel pairs of MGCL against an independent reference, and its checks."""

import itertools
import math
from types import SimpleNamespace

import pytest
import torch
from mmengine.optim import OptimWrapper
from tiny_pretraining import collate, pinned_samples, text_embeddings, tiny_model_cfg
from torch import nn

from mmskysense.engine.hooks import TeacherMomentumHook
from mmskysense.registry import MODELS
from mmskysense.structures import EncodedViews
from mmskysense.utils import register_all_modules

register_all_modules()

MODALITIES = ('hr', 's2', 's1')


@pytest.fixture(scope='module')
def text_file(tmp_path_factory):
    return text_embeddings(str(tmp_path_factory.mktemp('ita') / 'text.pth'))


def _build(text_file):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(text_file))
    model.init_weights()
    return model.train()


def _batch(model, seed=0):
    return model.data_preprocessor(collate(pinned_samples(seed=seed)), True)


def test_teacher_takes_no_gradient_and_is_the_ema_of_the_student(text_file):
    model = _build(text_file)
    mirrored = model.mirrored_modules()
    assert set(mirrored) == {'backbone', 'fusion', 'mgcl_head', 'qsacl_head', 'gcpl_head'}
    for name, student in mirrored.items():  # init_weights starts the teacher as a copy
        for (k, s), (_, t) in zip(
            student.named_parameters(), model.teacher[name].named_parameters()
        ):
            assert torch.equal(s, t), k
    assert not any(p.requires_grad for p in model.teacher.parameters())
    assert not model.teacher.training

    trainable = [p for p in model.parameters() if p.requires_grad]
    optim = OptimWrapper(torch.optim.SGD(trainable, lr=0.5))
    before = {
        n: {k: p.detach().clone() for k, p in model.teacher[n].named_parameters()} for n in mirrored
    }
    log = model.train_step(collate(pinned_samples()), optim)
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
    for n, module in mirrored.items():
        student = dict(module.named_parameters())
        for k, t in model.teacher[n].named_parameters():
            expected = m * before[n][k] + (1 - m) * student[k].detach()
            torch.testing.assert_close(t, expected, rtol=1e-6, atol=1e-7, msg=f'{n}.{k}')
            moved += int(not torch.equal(student[k], before[n][k]))
    assert moved > 10  # the step changed the student, so the check above is not trivial


def test_loss_logs_every_term_and_expert_load(text_file):
    model = _build(text_file)
    losses = model.loss(**_batch(model, seed=1))
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


# which student modules each loss must train, and which it must leave alone
REACHES = {
    'loss_mgcl': ('backbone', 'mgcl_head.projector'),
    'loss_qsacl': (
        'backbone',
        'fusion',
        'qsacl_head.projector.aggregation',
        'qsacl_head.projector.head',
    ),
    'loss_gcpl': ('backbone', 'fusion', 'gcpl_head.projector'),
    'loss_ita': ('backbone', 'fusion', 'ita_head.projector'),
    'loss_moe': ('backbone',),
}
HEAD_MODULES = ('fusion', 'mgcl_head', 'qsacl_head', 'gcpl_head', 'ita_head')


def _grad_norms(model):
    out = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            out[name] = 0.0 if p.grad is None else p.grad.abs().sum().item()
    return out


def test_each_loss_trains_exactly_the_modules_it_should(text_file):
    model = _build(text_file)
    losses = model.loss(**_batch(model))
    for term in sorted(REACHES):
        model.zero_grad(set_to_none=True)
        losses[term].backward(retain_graph=True)
        norms = _grad_norms(model)
        for prefix in REACHES[term]:
            reached = [n for n in norms if n.startswith(prefix + '.') and norms[n] > 0]
            assert reached, f'{term} gives no gradient to {prefix}'
        for module in HEAD_MODULES:
            if any(r == module or r.startswith(module + '.') for r in REACHES[term]):
                continue
            leaked = [n for n in norms if n.startswith(module + '.') and norms[n] > 0]
            assert not leaked, f'{term} trains {leaked[:3]}'
        if term == 'loss_moe':
            # the balance loss trains the gates (and what feeds them), never the experts that
            # come after the last gate
            last = max(n.rsplit('.ffn.', 1)[0] for n in norms if '.ffn.gate.' in n)
            assert all(norms[n] > 0 for n in norms if '.ffn.gate.' in n)
            assert all(norms[n] == 0 for n in norms if n.startswith(last + '.ffn.experts'))
        if term == 'loss_mgcl':  # every modality's tokenizer is trained by its own terms
            for m in MODALITIES:
                assert any(
                    n.startswith(f'backbone.tokenizers.{m}.') and norms[n] > 0 for n in norms
                )
        assert all(p.grad is None for p in model.teacher.parameters())


def test_total_loss_trains_every_student_parameter_but_the_fixed_norms(text_file):
    model = _build(text_file)
    total, _ = model.parse_losses(model.loss(**_batch(model)))
    total.backward()
    untouched = [n for n, v in _grad_norms(model).items() if v == 0]
    # a prompt stage or expert can miss a step; the DINO heads' last_g is frozen (requires_grad
    # False), so it is not even listed; everything else must be trained
    allowed = ('.prompts.', '.experts.')
    assert all(any(a in n for a in allowed) for n in untouched), untouched


def _ground_image(box, ops, grid):
    """Ground (x, y) of every cell centre of a view, as a 2 x h x w image built by flipping and
    rotating the north-up crop's coordinates with torch ops (independent of view_geometry)."""
    h, w = grid if ops[2] % 2 == 0 else grid[::-1]
    minx, miny, maxx, maxy = [float(v) for v in box]
    xs = minx + (torch.arange(w, dtype=torch.float64) + 0.5) / w * (maxx - minx)
    ys = maxy - (torch.arange(h, dtype=torch.float64) + 0.5) / h * (maxy - miny)
    img = torch.stack(torch.meshgrid(ys, xs, indexing='ij')[::-1])
    if ops[0]:
        img = img.flip(-1)
    if ops[1]:
        img = img.flip(-2)
    return torch.rot90(img, int(ops[2]), dims=(-2, -1))


def test_mgcl_pairs_every_student_token_with_the_teacher_token_over_its_ground(text_file):
    """With identity projections whose features are the tokens' ground positions, MGCL's pixel
    pairs must join each student token to the teacher-view token whose cell holds its ground,
    for every view pair but a global view and itself, and no other pairs."""
    model = _build(text_file)
    batch = _batch(model)['inputs']
    head = model.mgcl_head
    identity = nn.ModuleDict({g: nn.Identity() for g in ('pixel', 'object', 'image')})
    grids = dict(hr=(3, 3), s2=(2, 2), s1=(4, 4))
    encoded = {}
    for name, views in batch.groups():
        b, v = views.view_boxes.shape[:2]
        maps, masks = {}, {}
        for m, grid in grids.items():
            feats = torch.zeros(b, v, 2, *grid, dtype=torch.float64)
            for i, j in itertools.product(range(b), range(v)):
                feats[i, j] = _ground_image(views.view_boxes[i, j], views.view_geo_ops[i, j], grid)
            maps[m] = feats
            masks[m] = torch.ones(b, v, *grid, dtype=torch.bool)
        for m in masks:  # a token without data pairs with nothing
            masks[m][0, 0, 0, 0] = False
        encoded[name] = EncodedViews(maps, masks, fused=None, fused_mask=None)
    head.projector = identity
    terms = head.paired_logits(encoded, encoded, batch, identity)
    for m in grids:
        s_rows, t_rows, weight = terms[m]['pixel']
        expected_rows, n_pairs = [], 0
        # the reference: pairs in the head's order (student group, view, teacher view, sample)
        for name, views in batch.groups():
            for i in range(views.num_views):
                for j in range(batch.global_views.num_views):
                    if name == 'global_views' and i == j:
                        continue
                    for s in range(batch.batch_size):
                        src = encoded[name].maps[m][s, i].flatten(1).T  # L x 2
                        dst_img = encoded['global_views'].maps[m][s, j]
                        box = batch.global_views.view_boxes[s, j].tolist()
                        cw = (box[2] - box[0]) / grids[m][1]
                        ch = (box[3] - box[1]) / grids[m][0]
                        for t, (x, y) in enumerate(src.tolist()):
                            inside = box[0] <= x < box[2] and box[1] < y <= box[3]
                            valid = encoded[name].map_masks[m][s, i].flatten()[t]
                            if inside:  # the teacher cell holding (x, y), found by search
                                d = (dst_img.flatten(1).T - torch.tensor([x, y])).abs()
                                hit = ((d[:, 0] <= cw / 2) & (d[:, 1] <= ch / 2)).nonzero()
                                valid = (
                                    valid
                                    & encoded['global_views']
                                    .map_masks[m][s, j]
                                    .flatten()[hit[0, 0]]
                                )
                            expected_rows.append(bool(inside and valid))
                            n_pairs += int(inside and valid)
        assert weight.tolist() == [float(r) for r in expected_rows]
        paired = weight > 0
        assert n_pairs > 0 and (~paired).any()
        # each pair: the teacher token's cell holds the student token's ground
        diff = (s_rows[paired] - t_rows[paired]).abs()
        box = batch.global_views.view_boxes
        half = ((box[..., 2] - box[..., 0]).max() / grids[m][1] / 2).item()
        assert (diff <= half + 1e-9).all()


def test_pixel_pairs_respect_nodata_and_bad_inputs_are_named(text_file):
    model = _build(text_file)
    samples = pinned_samples(seed=2)
    for s in samples:
        for group in ('global_views', 'local_views'):
            for m in MODALITIES:
                getattr(s['inputs'], group).valid_masks[m][:] = False  # nothing valid anywhere
    with torch.no_grad():
        losses = model.loss(**model.data_preprocessor(collate(samples), True))
    for m in MODALITIES:  # no valid pair: zero pixel and object terms
        assert losses[f'mgcl_pixel_{m}'] == 0 and losses[f'mgcl_object_{m}'] == 0
    samples = pinned_samples()
    samples[1]['inputs'].local_views.view_boxes[0] = torch.tensor([5.0, 5.0, 5.0, 9.0])
    with pytest.raises(ValueError, match='local_views.view_boxes of sample 1'):
        model.data_preprocessor(collate(samples), True)
    samples = pinned_samples()
    samples[1]['inputs'].region_id = 12
    with pytest.raises(ValueError, match='region_id'):
        model.loss(**model.data_preprocessor(collate(samples), True))
    with pytest.raises(TypeError, match='PretrainBatch'):
        model.loss(dict(global_views={}), [])


def test_the_ema_follows_parameters_assigned_after_its_first_update(text_file):
    """update_teacher finds its tensors once and reuses them: a parameter assigned anew on the
    student (load_state_dict(assign=True)) or the teacher afterwards must be the one updated."""
    model = _build(text_file)
    model.update_teacher(0.5)  # the pairs are found
    state = {k: torch.randn_like(v) for k, v in model.fusion.state_dict().items()}
    model.fusion.load_state_dict(state, assign=True)
    teacher_state = {
        k: torch.randn_like(v) for k, v in model.teacher['fusion'].state_dict().items()
    }
    model.teacher['fusion'].load_state_dict(teacher_state, assign=True)
    # assign=True adopts the given tensors: the expected values from copies
    expected_all = {k: 0.25 * teacher_state[k] + 0.75 * state[k] for k in teacher_state}
    model.update_teacher(0.25)
    for k, t in model.teacher['fusion'].named_parameters():
        expected = expected_all[k]
        torch.testing.assert_close(t, expected, rtol=1e-6, atol=1e-6, msg=k)
