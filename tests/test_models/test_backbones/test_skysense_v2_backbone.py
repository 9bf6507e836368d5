"""SkySenseV2Backbone (the core) and SkySenseV2SingleModal (the edge): the interface of
docs/interfaces.md, shapes, prompts, MoE stats, options."""

import copy
import inspect

import pytest
import torch
import torch.nn.functional as F

from mmskysense.models.backbones import SkySenseV2Backbone, SkySenseV2SingleModal
from mmskysense.models.layers import MixtureOfExperts
from mmskysense.registry import MODELS


@pytest.fixture(scope='module')
def tiny():
    torch.manual_seed(0)
    return SkySenseV2Backbone('tiny', drop_path_rate=0.0).eval()


def test_registered_and_built_from_config():
    core = MODELS.build(dict(type='SkySenseV2Backbone', arch='tiny'))
    assert type(core) is SkySenseV2Backbone and list(core.tokenizers) == ['hr', 's2', 's1']
    model = MODELS.build(dict(type='SkySenseV2SingleModal', arch='tiny', modality='hr'))
    assert isinstance(model, SkySenseV2SingleModal)
    assert model.modality == 'hr' and list(model.tokenizers) == ['hr']


def test_one_core_path_dict_in_dict_out():
    """The core's forward has one signature: a dict of inputs and a dict of date masks (the
    pretraining algorithm passes the masks positionally)."""
    params = list(inspect.signature(SkySenseV2Backbone.forward).parameters)
    assert params == ['self', 'inputs', 'date_masks']
    assert 'modality' not in inspect.signature(SkySenseV2Backbone.__init__).parameters
    params = list(inspect.signature(SkySenseV2SingleModal.forward).parameters)
    assert params == ['self', 'x', 'date_mask']


def test_single_modal_is_the_core_on_one_modality():
    """Same weights, same maps: the edge is ``core({m: x}, {m: mask})[m]``; its state-dict keys
    are the core's (minus the other modalities' tokenizers and prompts), so checkpoints load
    either way, strictly."""
    torch.manual_seed(0)
    core = SkySenseV2Backbone('tiny', drop_path_rate=0.0).eval()
    single = SkySenseV2SingleModal(modality='s1', arch='tiny', drop_path_rate=0.0).eval()
    own = core.state_dict()
    other = ('tokenizers.hr.', 'tokenizers.s2.', 'prompts.tokens.hr', 'prompts.tokens.s2')
    expected = {k for k in own if not any(o in k for o in other)}
    assert set(single.state_dict()) == expected
    single.load_state_dict({k: own[k] for k in expected}, strict=True)
    x = torch.randn(2, 3, 2, 16, 16)
    mask = torch.tensor([[True, False, True], [True, True, False]])
    with torch.no_grad():
        ref = core(dict(s1=x), dict(s1=mask))['s1']
        out = single(x, date_mask=mask)
    assert isinstance(out, tuple) and len(out) == len(ref)
    for a, b in zip(out, ref):
        assert torch.equal(a, b)
    core2 = SkySenseV2Backbone('tiny', modalities=dict(s1=dict(in_channels=2, kind='ms')))
    core2.load_state_dict(single.state_dict(), strict=True)


def test_multimodal_shapes_and_strides(tiny):
    with torch.no_grad():
        out = tiny(
            dict(
                hr=torch.randn(1, 3, 256, 256),
                s2=torch.randn(2, 10, 64, 64),
                s1=torch.randn(2, 2, 64, 64),
            )
        )
    assert set(out) == {'hr', 's2', 's1'}
    c = 32
    assert [tuple(o.shape) for o in out['hr']] == [
        (1, c, 64, 64),
        (1, 2 * c, 32, 32),
        (1, 4 * c, 16, 16),
        (1, 8 * c, 8, 8),
    ]
    for name in ('s2', 's1'):
        assert [tuple(o.shape) for o in out[name]] == [(2, c * 2**i, 16, 16) for i in range(4)]


def test_time_series_gives_features_per_date(tiny):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 10, 32, 32)
    with torch.no_grad():
        out = tiny(dict(s2=x))['s2']
        assert [tuple(o.shape) for o in out] == [(2, 3, 32 * 2**i, 8, 8) for i in range(4)]
        single = tiny(dict(s2=x[:, 1]))['s2']
    for o, s in zip(out, single):
        torch.testing.assert_close(o[:, 1], s, rtol=1e-4, atol=1e-5)


def test_padded_dates_are_masked(tiny):
    torch.manual_seed(2)
    x = torch.randn(2, 3, 2, 32, 32)
    mask = torch.tensor([[True, False, True], [False, False, True]])
    with torch.no_grad():
        out = tiny(dict(s1=x), date_masks=dict(s1=mask))['s1']
        ref = tiny(dict(s1=x[0, 2:3]))['s1']
        nothing = tiny(dict(s1=x), date_masks=dict(s1=torch.zeros(2, 3, dtype=torch.bool)))
    for o, r in zip(out, ref):
        assert o.shape[:2] == (2, 3)
        assert o[~mask].abs().max() == 0
        torch.testing.assert_close(o[0, 2], r[0], rtol=1e-4, atol=1e-5)
    assert [tuple(o.shape) for o in nothing['s1']] == [(2, 3, 32 * 2**i, 8, 8) for i in range(4)]
    assert all(o.abs().max() == 0 for o in nothing['s1'])


def test_single_modal_returns_tuple():
    torch.manual_seed(0)
    model = SkySenseV2SingleModal(modality='s2', arch='tiny', out_indices=(1, 3)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 10, 40, 40))
        ts = model(torch.randn(1, 4, 10, 40, 40), date_mask=torch.tensor([[1, 1, 0, 1]]).bool())
    assert isinstance(out, tuple)
    assert [tuple(o.shape) for o in out] == [(2, 64, 10, 10), (2, 256, 10, 10)]
    assert [tuple(o.shape) for o in ts] == [(1, 4, 64, 10, 10), (1, 4, 256, 10, 10)]
    assert not hasattr(model, 'norm0') and not hasattr(model, 'norm2')
    assert model.out_channels == (64, 256) and list(model.tokenizers) == ['s2']


def test_custom_modality_with_its_own_tokenizer():
    model = SkySenseV2SingleModal(
        arch='tiny',
        modalities=dict(hr=dict(in_channels=3, kind='hr'), planet=dict(in_channels=4, kind='hr')),
        modality='planet',
    )
    assert model.tokenizers['planet'].proj.in_channels == 4
    out = model(torch.randn(1, 4, 64, 64))
    assert [o.shape[-1] for o in out] == [16, 8, 4, 2]


def test_prompts_keep_token_count_and_are_modality_specific(tiny):
    model = copy.deepcopy(tiny)
    x = dict(
        hr=torch.randn(1, 3, 64, 64), s2=torch.randn(1, 10, 16, 16), s1=torch.randn(1, 2, 16, 16)
    )
    no_prompt_arch = dict(SkySenseV2Backbone.arch_zoo['tiny'], num_prompts=0)
    plain = SkySenseV2Backbone(no_prompt_arch).eval()
    assert model.stages[2].prompts is not None and plain.stages[2].prompts is None
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        before = model(x)
        shapes_plain = {k: [o.shape for o in v] for k, v in plain(x).items()}
        assert {k: [o.shape for o in v] for k, v in before.items()} == shapes_plain
        # New values drawn per token and per channel, ten times the init scale: neither a
        # per-token shift nor a per-token scale, so the blocks' LayerNorms cannot remove them
        # (a constant shift of every value changes the maps by rounding only, ~1e-6).
        for stage in (2, 3):
            tokens = model.stages[stage].prompts.tokens['s2']
            tokens.copy_(10 * torch.randn(tokens.shape, generator=g))
        after = model(x)
    for name in x:  # stages 1-2 carry no prompts and run before any: bit for bit
        for i in (0, 1):
            assert torch.equal(before[name][i], after[name][i])
    # The other modalities' maps of stages 3-4 change by rounding at most: their tokens share
    # the global blocks' matrix products with s2's (the modalities go through in one pass), and
    # the MoE's expert groups, whose sizes s2's routing sets, can change how those products are
    # blocked (measured up to 5e-7 with 2 threads; values ~3).
    for name in ('hr', 's1'):
        for i in (2, 3):
            assert (after[name][i] - before[name][i]).abs().max() <= 1e-5, (name, i)
    for i in (2, 3):  # measured 0.02-0.15 over five seeds; rounding is ~1e-6
        assert (after['s2'][i] - before['s2'][i]).abs().max() > 1e-3, f'stage {i + 1}'


def switch_loss_reference(tokens: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """Switch Transformer's balance loss M * sum_i f_i P_i for top-1 routing, from the gate
    weights alone (independent of MixtureOfExperts)."""
    probs = F.softmax(tokens.reshape(-1, gate.shape[1]).double() @ gate.double().t(), dim=-1)
    frac = F.one_hot(probs.argmax(-1), gate.shape[0]).double().mean(0)
    return gate.shape[0] * (frac * probs.mean(0)).sum()


def test_moe_aux_loss_is_the_sum_of_switch_losses(tiny):
    """aux_loss() is the sum over MoE layers and modality calls of each call's Switch loss;
    expert_load() the token fractions per layer; both are reset by every forward."""
    model = copy.deepcopy(tiny)
    moes = {n: m for n, m in model.named_modules() if isinstance(m, MixtureOfExperts)}
    assert set(moes) == {'stages.3.blocks.0.ffn', 'stages.3.blocks.1.ffn'}  # last 2 blocks
    with torch.no_grad():
        for m in moes.values():  # spread the routing over the experts
            m.gate.weight.normal_(0, 1)
    seen = []

    def hook(mod, args, out, n):  # a call may take the tokens of several modalities at once
        seen.extend((n, t) for t in (args[0] if isinstance(args[0], list) else [args[0]]))

    hooks = [
        m.register_forward_hook(lambda mod, args, out, n=n: hook(mod, args, out, n))
        for n, m in moes.items()
    ]
    x = dict(hr=torch.randn(1, 3, 32, 32), s2=torch.randn(1, 10, 16, 16))
    with torch.no_grad():
        model(dict(s1=torch.randn(1, 2, 16, 16)))  # a forward whose stats must not remain
        seen.clear()
        model(x)
    for h in hooks:
        h.remove()
    assert len(seen) == 2 * 2  # 2 MoE layers x 2 modalities
    ref = sum(switch_loss_reference(t, moes[n].gate.weight) for n, t in seen)
    assert model.aux_loss().dim() == 0
    torch.testing.assert_close(model.aux_loss().double(), ref, rtol=1e-5, atol=1e-6)
    load = model.expert_load()
    assert set(load) == {'stages.3.blocks.0', 'stages.3.blocks.1'}
    for name, frac in load.items():
        tokens = torch.cat([t.reshape(-1, t.shape[-1]) for n, t in seen if n == name + '.ffn'])
        idx = (tokens @ moes[name + '.ffn'].gate.weight.t()).argmax(-1)
        torch.testing.assert_close(frac, torch.bincount(idx, minlength=4).float() / len(idx))


def test_moe_aux_loss_hand_worked_uniform_gates(tiny):
    """Zero gates: every probability is exactly 1/M, so each call's loss is
    M * sum_i f_i / M = 1 whatever the routing, and the sum is the number of calls."""
    model = copy.deepcopy(tiny)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, MixtureOfExperts):
                m.gate.weight.zero_()
        model(
            dict(
                hr=torch.randn(1, 3, 32, 32),
                s2=torch.randn(1, 10, 16, 16),
                s1=torch.randn(2, 2, 16, 16),
            )
        )
    assert model.aux_loss().item() == 6.0  # 2 layers x 3 modalities
    for frac in model.expert_load().values():  # ties: every token to one expert
        assert sorted(frac.tolist()) == [0.0, 0.0, 0.0, 1.0]


def test_aux_loss_is_differentiable_w_r_t_gates():
    torch.manual_seed(0)
    model = SkySenseV2Backbone('tiny')
    model(dict(s1=torch.randn(2, 2, 16, 16)))
    model.aux_loss().backward()
    gate = model.stages[3].blocks[0].ffn.gate.weight
    assert gate.grad is not None and gate.grad.abs().sum() > 0


def test_dense_model_without_moe():
    model = SkySenseV2Backbone('tiny', use_moe=False)
    assert not any(isinstance(m, MixtureOfExperts) for m in model.modules())
    model(dict(hr=torch.randn(1, 3, 32, 32)))
    assert model.aux_loss().item() == 0 and model.expert_load() == {}
    moe = SkySenseV2Backbone('tiny')
    n_dense = sum(p.numel() for p in model.parameters())
    n_moe = sum(p.numel() for p in moe.parameters())
    ffn = lambda c: 2 * c * 4 * c + 5 * c  # noqa: E731
    # 2 MoE blocks of width 8C=256: 3 extra experts each plus a gate of 256 x 4
    assert n_moe - n_dense == 2 * (3 * ffn(256) + 256 * 4)


def test_with_cp_gives_same_outputs_and_gradients():
    torch.manual_seed(0)
    ref = SkySenseV2Backbone('tiny', drop_path_rate=0.0, with_cp=False).train()
    ckpt = copy.deepcopy(ref)
    ckpt.set_grad_checkpointing(True)
    assert all(b.with_cp for s in ckpt.stages for b in s.blocks)
    x = dict(hr=torch.randn(1, 3, 32, 32), s2=torch.randn(1, 2, 10, 16, 16))
    losses = []
    for model in (ref, ckpt):
        out = model(x)
        loss = sum(o.square().mean() for v in out.values() for o in v) + model.aux_loss()
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1])
    for (name, p), q in zip(ref.named_parameters(), ckpt.parameters()):
        if p.grad is None:
            assert q.grad is None, name
            continue
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)
    # one aux record per MoE call even though checkpointed blocks are recomputed
    assert len(ckpt.stages[3].blocks[0].ffn._records) == 2


def test_frozen_stages():
    for model in (
        SkySenseV2Backbone('tiny', frozen_stages=1),
        SkySenseV2SingleModal(modality='hr', arch='tiny', frozen_stages=1),
    ):
        model.train()
        for name, p in model.named_parameters():
            frozen = name.startswith(('tokenizers', 'stages.0', 'stages.1', 'norm0', 'norm1'))
            assert p.requires_grad != frozen, name
        assert not model.stages[1].training and model.stages[2].training
        assert not model.tokenizers.training


def test_init_cfg_pretrained_reports_missing_and_unexpected(tmp_path):
    torch.manual_seed(0)
    src = SkySenseV2SingleModal(modality='hr', arch='tiny')
    state = {'backbone.' + k: v for k, v in src.state_dict().items()}
    del state['backbone.norm3.weight']
    state['backbone.extra.weight'] = torch.zeros(3)
    state['backbone.norm2.bias'] = torch.zeros(7)  # wrong shape
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict=state, meta=dict()), path)
    model = SkySenseV2SingleModal(
        modality='hr',
        arch='tiny',
        init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'),
    )
    model.init_weights()
    report = model.pretrained_report
    assert 'norm3.weight' in report['missing_keys'] and 'norm2.bias' in report['missing_keys']
    assert report['unexpected_keys'] == ['extra.weight']
    assert len(report['mismatched_keys']) == 1 and 'norm2.bias' in report['mismatched_keys'][0]
    for (name, p), q in zip(model.named_parameters(), src.parameters()):
        if name not in ('norm3.weight', 'norm2.bias'):
            assert torch.equal(p, q), name


@pytest.mark.parametrize('cls', [SkySenseV2Backbone, SkySenseV2SingleModal])
def test_get_layer_depth_and_no_weight_decay(cls):
    model = cls(arch='tiny')  # depths 1, 1, 2, 2 -> 6 blocks, 8 layer ids
    depth = model.get_layer_depth
    assert depth('backbone.tokenizers.s2.proj.weight', 'backbone.') == (0, 8)
    assert depth('backbone.stages.0.blocks.0.attn.qkv.weight', 'backbone.') == (1, 8)
    assert depth('backbone.stages.1.downsample.reduction.weight', 'backbone.') == (2, 8)
    assert depth('backbone.stages.2.prompts.tokens.hr', 'backbone.') == (3, 8)
    assert depth('backbone.stages.3.blocks.1.ffn.experts.fc1.weight', 'backbone.') == (6, 8)
    assert depth('backbone.norm3.weight', 'backbone.') == (6, 8)
    assert depth('neck.fc.weight', 'backbone.') == (6, 8)
    assert depth('head.fc.weight', 'backbone.') == (7, 8)
    nwd = model.no_weight_decay()
    names = dict(model.named_parameters())
    assert nwd <= set(names)
    prompt = (
        'stages.3.prompts.tokens.s1' if cls is SkySenseV2Backbone else 'stages.3.prompts.tokens.hr'
    )
    assert {
        'stages.2.prompts.tokens.hr',
        prompt,
        'stages.0.blocks.0.attn.logit_scale',
        'stages.1.blocks.0.attn.cpb_mlp.0.weight',
    } <= nwd
    assert 'stages.0.blocks.0.attn.qkv.weight' not in nwd


def test_bad_inputs_raise_clear_errors(tiny):
    with pytest.raises(ValueError, match=r"'s2'.*10.*channels"):
        tiny(dict(s2=torch.randn(1, 3, 16, 16)))
    with pytest.raises(ValueError, match=r"'s2' expects 10 channels"):
        tiny(dict(s2=torch.randn(1, 2, 3, 16, 16)))
    with pytest.raises(KeyError, match="'rgbn'"):
        tiny(dict(rgbn=torch.randn(1, 4, 16, 16)))
    with pytest.raises(ValueError, match='B x C x H x W'):
        tiny(dict(hr=torch.randn(3, 16, 16)))
    with pytest.raises(TypeError, match='dict.*SkySenseV2SingleModal'):
        tiny(torch.randn(1, 3, 16, 16))
    with pytest.raises(TypeError, match='date_masks must be a dict'):
        tiny(dict(s1=torch.randn(1, 3, 2, 16, 16)), torch.ones(1, 3).bool())
    with pytest.raises(ValueError, match=r'date_mask.*\(B, T\)'):
        tiny(dict(s1=torch.randn(1, 3, 2, 16, 16)), date_masks=dict(s1=torch.ones(1, 2).bool()))
    with pytest.raises(KeyError, match='date_masks'):
        tiny(dict(s1=torch.randn(1, 2, 16, 16)), date_masks=dict(s2=torch.ones(1, 2).bool()))
    single = SkySenseV2SingleModal(modality='s2', arch='tiny')
    with pytest.raises(TypeError, match='takes one Tensor'):
        single(dict(s2=torch.randn(1, 10, 16, 16)))
    with pytest.raises(ValueError, match=r"date_mask of modality 's2'.*\(B, T\)"):
        single(torch.randn(1, 3, 10, 16, 16), date_mask=torch.ones(1, 2).bool())


def test_bad_configuration_raises_clear_errors():
    with pytest.raises(ValueError, match='gigantic'):
        SkySenseV2Backbone('gigantic')
    with pytest.raises(ValueError, match='missing'):
        SkySenseV2Backbone(dict(embed_dims=32))
    with pytest.raises(ValueError, match="modality='planet'"):
        SkySenseV2SingleModal(modality='planet', arch='tiny')
    with pytest.raises(TypeError, match='modality'):
        SkySenseV2Backbone('tiny', modality='hr')  # the core has no single-modal mode
    with pytest.raises(ValueError, match='kind'):
        SkySenseV2Backbone('tiny', modalities=dict(x=dict(in_channels=3, kind='lidar')))
    with pytest.raises(ValueError, match='head_dim'):
        SkySenseV2Backbone(dict(SkySenseV2Backbone.arch_zoo['tiny'], head_dim=24))
    with pytest.raises(ValueError, match='out_indices'):
        SkySenseV2Backbone('tiny', out_indices=(4,))


def test_layers_and_backbone_need_only_torch_and_mmengine():
    """Every import of the layer and backbone modules is torch, mmengine, the standard library or
    mmskysense's registry / layers, so they run where no other mm* package is installed."""
    import ast
    import glob
    import os.path as osp
    import sys

    root = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))
    files = glob.glob(osp.join(root, 'mmskysense', 'models', 'layers', '*.py')) + glob.glob(
        osp.join(root, 'mmskysense', 'models', 'backbones', '*.py')
    )
    allowed_mmskysense = (
        'mmskysense.registry',
        'mmskysense.models.layers',
        'mmskysense.models.backbones',
        # the model-agnostic checkpoint loader and the modality table: torch, mmengine, numpy
        'mmskysense.models.utils.checkpoint_loader',
        'mmskysense.models.utils.pretrained_init',
        'mmskysense.structures.modalities',
    )
    assert len(files) >= 9
    for path in files:
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split('.')[0]
                ok = (
                    top in ('torch', 'mmengine')
                    or top in sys.stdlib_module_names
                    or name.startswith(allowed_mmskysense)
                )
                assert ok, f'{osp.relpath(path, root)} imports {name}'


def _spread_routing(tiny):
    """A training copy of ``tiny`` whose gates spread the tokens over the experts."""
    model = copy.deepcopy(tiny).train()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, MixtureOfExperts):
                m.gate.weight.normal_(0, 1)
    return model


def test_modalities_taken_together_give_each_its_own_maps(tiny):
    """The modalities go through the stages together (a global block and its MoE take all of
    them in one call): each modality's maps and balance losses are those of a forward of that
    modality alone, a padded date included."""
    model = _spread_routing(tiny)
    torch.manual_seed(1)
    x = dict(
        hr=torch.randn(2, 3, 32, 32),
        s2=torch.randn(2, 3, 10, 16, 16),
        s1=torch.randn(2, 2, 2, 16, 16),
    )
    dates = dict(s2=torch.tensor([[True, True, False], [True, True, True]]))
    joint = model(x, dates)
    joint_aux = model.aux_loss()
    alone, aux = {}, 0
    for name, t in x.items():
        alone.update(model({name: t}, {k: v for k, v in dates.items() if k == name}))
        aux = aux + model.aux_loss()
    for name in x:
        for a, b in zip(joint[name], alone[name], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert (joint['s2'][-1][0, 2] == 0).all()  # the padded date
    torch.testing.assert_close(joint_aux, aux, rtol=1e-6, atol=1e-6)


def test_view_groups_in_one_pass_give_each_its_own_maps_and_statistics(tiny):
    """forward_groups (the global and local views of a batch in one pass): each group's maps
    are those of its own forward, aux_loss() the sum of both forwards' balance losses, and
    expert_load(group=i) the expert load of group i's forward alone."""
    model = _spread_routing(tiny)
    torch.manual_seed(2)
    big = dict(hr=torch.randn(2, 3, 32, 32), s2=torch.randn(2, 3, 10, 16, 16))
    small = dict(hr=torch.randn(3, 3, 16, 16), s1=torch.randn(3, 2, 2, 8, 8))
    dates = dict(s2=torch.tensor([[True, False, True], [True, True, True]]))
    joint = model.forward_groups([(big, dates), (small, None)])
    aux = model.aux_loss()
    loads = [model.expert_load(group=0), model.expert_load(group=1)]
    alone, alone_aux, alone_loads = [], 0, []
    for x, d in ((big, dates), (small, None)):
        alone.append(model(x, d))
        alone_aux = alone_aux + model.aux_loss()
        alone_loads.append(model.expert_load())
    for j, a in zip(joint, alone, strict=True):
        assert set(j) == set(a)
        for name in j:
            for p, q in zip(j[name], a[name], strict=True):
                torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(aux, alone_aux, rtol=1e-6, atol=1e-6)
    for got, want in zip(loads, alone_loads, strict=True):
        for layer in want:
            torch.testing.assert_close(got[layer], want[layer])
    assert not torch.equal(loads[0]['stages.3.blocks.0'], loads[1]['stages.3.blocks.0'])
