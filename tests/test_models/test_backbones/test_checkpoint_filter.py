"""checkpoint_filter_fn: each rule of docs/interfaces.md ("Checkpoints") once, load_weights'
report, and every entry point loading a DDP-saved pretraining checkpoint through it.

Rule 5 (SkySense V1 / mmpretrain SwinTransformerV2 keys) is checked against mmpretrain's own
model in test_skysense_v2_oracle.py.
"""

import importlib.util
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from mmskysense.models.backbones import (
    SkySenseV2Backbone,
    SkySenseV2SingleModal,
    checkpoint_filter_fn,
    load_weights,
)

REPO = Path(__file__).resolve().parents[3]
TINY_PRETRAIN = REPO / 'configs' / 'skysense_v2' / 'skysense-v2_tiny_1xb2-cpu-300it_geo-demo.py'


def _tool(rel: str):
    spec = importlib.util.spec_from_file_location(Path(rel).stem, REPO / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _numbered(model: nn.Module, offset: float = 0.0) -> 'OrderedDict[str, torch.Tensor]':
    """The model's state dict with every tensor a distinct constant, so that a value tells
    which key it came from."""
    return OrderedDict(
        (k, torch.full_like(v, offset + i, dtype=torch.float32).to(v.dtype))
        for i, (k, v) in enumerate(model.state_dict().items())
    )


@pytest.fixture(scope='module')
def tiny_core():
    torch.manual_seed(0)
    return SkySenseV2Backbone('tiny', drop_path_rate=0.0)


# ----------------------------------------------------------------------------- the rules
def test_rule1_wrapper_fields_are_unwrapped(tiny_core):
    sd = _numbered(tiny_core)
    for ckpt in (
        dict(state_dict=sd, meta=dict(iter=1)),
        dict(model=sd),
        dict(module=sd),
        dict(model=dict(state_dict=sd)),
        sd,
    ):
        out = checkpoint_filter_fn(ckpt, tiny_core)
        assert list(out) == list(sd) and all(out[k] is sd[k] for k in sd)
    with pytest.raises(ValueError, match=r"not a state dict.*\['meta'\]"):
        checkpoint_filter_fn(dict(meta=dict(iter=1), weight=torch.ones(1)), tiny_core)
    with pytest.raises(TypeError, match='checkpoint dict or a state dict'):
        checkpoint_filter_fn([torch.ones(1)], tiny_core)


def test_rule2_parallel_and_compile_wrappers_are_removed(tiny_core):
    sd = _numbered(tiny_core)

    def wrapped(i, key):
        if i % 3 == 0:
            return 'module.' + key  # DDP, DataParallel, DeepSpeed
        if i % 3 == 1:
            return '_orig_mod.module.' + key  # torch.compile of a DDP model
        head, rest = key.split('.', 1)  # FSDP1 units, activation-checkpointed blocks
        return f'module.{head}._fsdp_wrapped_module.{rest}'.replace(
            '.blocks.0.', '.blocks.0._checkpoint_wrapped_module.'
        )

    out = checkpoint_filter_fn({wrapped(i, k): v for i, (k, v) in enumerate(sd.items())}, tiny_core)
    assert list(out) == list(sd) and all(torch.equal(out[k], sd[k]) for k in sd)
    with pytest.raises(ValueError, match="both become 'norm3.weight'"):
        checkpoint_filter_fn(
            {'norm3.weight': sd['norm3.weight'], 'module.norm3.weight': sd['norm3.weight']},
            tiny_core,
        )


def test_rule3_prefix_teacher_by_default_then_backbone_then_bare(tiny_core):
    teacher, student = _numbered(tiny_core, 0), _numbered(tiny_core, 1000)
    full = {'teacher.backbone.' + k: v for k, v in teacher.items()}
    full.update({'backbone.' + k: v for k, v in student.items()})
    full['fusion.proj.weight'] = torch.ones(2)
    full['teacher.fusion.proj.weight'] = torch.ones(2)

    def same(out, ref):
        return list(out) == list(ref) and all(out[k] is ref[k] for k in ref)

    assert same(checkpoint_filter_fn(full, tiny_core), teacher)  # the paper's choice
    assert same(checkpoint_filter_fn(full, tiny_core, network='student'), student)
    assert same(checkpoint_filter_fn(full, tiny_core, prefix='backbone.'), student)
    # an extracted teacher or a fine-tuned model: `backbone.`; a bare backbone: as it is
    extracted = {'backbone.' + k: v for k, v in teacher.items()}
    extracted['decode_head.conv_seg.weight'] = torch.ones(3)
    assert same(checkpoint_filter_fn(extracted, tiny_core), teacher)
    assert same(checkpoint_filter_fn(teacher, tiny_core), teacher)
    with pytest.raises(ValueError, match="no key starts with prefix 'teacher.backbone.'"):
        checkpoint_filter_fn(extracted, tiny_core, prefix='teacher.backbone.')
    with pytest.raises(ValueError, match='`network` must be one of'):
        checkpoint_filter_fn(full, tiny_core, network='ema')


def test_rule4_rebuilt_buffers_are_dropped(tiny_core):
    sd = _numbered(tiny_core)
    extra = {
        'stages.0.blocks.0.attn.relative_position_index': torch.zeros(16, 16).long(),
        'stages.1.blocks.1.attn.relative_coords_table': torch.zeros(1, 7, 7, 2),
    }
    dropped = []
    out = checkpoint_filter_fn(dict(sd, **extra), tiny_core, dropped=dropped)
    assert list(out) == list(sd) and sorted(dropped) == sorted(extra)


def test_rule6_modalities_the_model_does_not_build_are_set_aside(tiny_core):
    single = SkySenseV2SingleModal(modality='s2', arch='tiny')
    dropped = []
    out = checkpoint_filter_fn(tiny_core.state_dict(), single, dropped=dropped)
    assert set(out) == set(single.state_dict())
    assert dropped and all(
        k.startswith(('tokenizers.hr.', 'tokenizers.s1.'))
        or k.endswith(('prompts.tokens.hr', 'prompts.tokens.s1'))
        for k in dropped
    )
    single.load_state_dict(out, strict=True)


def test_rules5_6_a_v1_patch_embedding_is_set_aside_without_an_hr_tokenizer():
    v1 = {
        'backbone.patch_embed.projection.weight': torch.ones(32, 3, 4, 4),
        'backbone.patch_embed.projection.bias': torch.ones(32),
        'backbone.stages.0.blocks.0.attn.w_msa.qkv.weight': torch.ones(96, 32),
    }
    dropped = []
    out = checkpoint_filter_fn(
        v1, SkySenseV2SingleModal(modality='s2', arch='tiny'), dropped=dropped
    )
    assert list(out) == ['stages.0.blocks.0.attn.qkv.weight']
    assert dropped == ['tokenizers.hr.proj.weight', 'tokenizers.hr.proj.bias']


def test_rule7_dense_ffn_is_upcycled_into_every_expert():
    torch.manual_seed(0)
    dense = SkySenseV2Backbone('tiny', use_moe=False, drop_path_rate=0.0).eval()
    moe = SkySenseV2Backbone('tiny', drop_path_rate=0.0).eval()
    out = checkpoint_filter_fn(dense.state_dict(), moe)
    result = moe.load_state_dict(out, strict=False)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == [
        'stages.3.blocks.0.ffn.gate.weight',
        'stages.3.blocks.1.ffn.gate.weight',
    ]
    for j in (0, 1):
        ffn, layer = dense.stages[3].blocks[j].ffn, moe.stages[3].blocks[j].ffn
        experts = layer.experts  # stacked: expert e is row e
        assert all(
            torch.equal(experts.fc1.weight[e], ffn.fc1.weight)
            and torch.equal(experts.fc2.bias[e], ffn.fc2.bias)
            for e in range(layer.num_experts)
        )
        # eq. 2 with identical experts: the output is the top gate value times the dense FFN
        x = torch.randn(20, layer.embed_dims)
        with torch.no_grad():
            y, _, _ = layer(x)
            gate = torch.softmax(x @ layer.gate.weight.t(), -1).max(-1).values.unsqueeze(-1)
            torch.testing.assert_close(y, gate * ffn(x), rtol=1e-5, atol=1e-6)
    # a checkpoint that already has experts is left alone
    again = checkpoint_filter_fn(moe.state_dict(), moe)
    assert list(again) == list(moe.state_dict())


def test_rule7_per_expert_keys_are_stacked():
    """A MoE checkpoint of the layout before the experts were stacked (one module per expert:
    ``ffn.experts.<e>.fc1.weight``) loads strictly, expert e into row e."""
    torch.manual_seed(0)
    moe = SkySenseV2Backbone('tiny', drop_path_rate=0.0)
    stacked = moe.state_dict()
    old = {}
    for k, v in stacked.items():
        head, sep, tail = k.partition('ffn.experts.')
        if not sep:
            old[k] = v
            continue
        for e in range(v.shape[0]):
            old[f'{head}ffn.experts.{e}.{tail}'] = v[e].clone() + e
    fresh = SkySenseV2Backbone('tiny', drop_path_rate=0.0)
    fresh.load_state_dict(checkpoint_filter_fn(old, fresh), strict=True)
    got = fresh.state_dict()
    key = 'stages.3.blocks.1.ffn.experts.fc2.weight'
    assert torch.equal(got[key], stacked[key] + torch.arange(got[key].shape[0])[:, None, None])
    # experts missing from the old layout are named
    del old['stages.3.blocks.1.ffn.experts.1.fc1.weight']
    with pytest.raises(KeyError, match='experts.<e>.fc1.weight has experts'):
        checkpoint_filter_fn(old, fresh)


def test_backbones_inside_a_model_are_adapted_where_they_sit():
    torch.manual_seed(0)
    dense = SkySenseV2Backbone('tiny', use_moe=False)

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = SkySenseV2SingleModal(modality='hr', arch='tiny')
            self.head = nn.Linear(256, 2)

    model = Holder()
    ckpt = {'module.backbone.' + k: v for k, v in dense.state_dict().items()}
    ckpt.update({'module.head.' + k: v for k, v in model.head.state_dict().items()})
    dropped = []
    out = checkpoint_filter_fn(dict(state_dict=ckpt), model, dropped=dropped)
    missing = sorted(set(model.state_dict()) - set(out))
    assert missing == [
        'backbone.stages.3.blocks.0.ffn.gate.weight',
        'backbone.stages.3.blocks.1.ffn.gate.weight',
    ]
    assert not set(out) - set(model.state_dict())
    assert dropped and all(k.startswith('backbone.') for k in dropped)  # s2 and s1 set aside
    with pytest.raises(ValueError, match='is not a pretrained component'):
        checkpoint_filter_fn(ckpt, model, prefix='backbone.')


# --------------------------------------------------------------------------- load_weights
def test_load_weights_reports_and_refuses(tiny_core, tmp_path):
    single = SkySenseV2SingleModal(modality='hr', arch='tiny')
    sd = {'backbone.' + k: v.clone() for k, v in single.state_dict().items()}
    del sd['backbone.norm3.weight']
    sd['backbone.norm2.bias'] = torch.zeros(7)
    sd['backbone.extra.weight'] = torch.zeros(1)
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict=sd), path)
    target = SkySenseV2SingleModal(modality='hr', arch='tiny')
    report = load_weights(target, str(path))
    assert set(report['missing_keys']) == {'norm3.weight', 'norm2.bias'}
    assert report['unexpected_keys'] == ['extra.weight']
    assert report['mismatched_keys'] == ['norm2.bias: checkpoint (7,) vs model (128,)']
    assert report['dropped_keys'] == []
    with pytest.raises(ValueError, match=r'ckpt\.pth does not fit.*norm3\.weight'):
        load_weights(target, str(path), strict=True)
    with pytest.raises(ValueError, match=r'no tensor of x\.pth fits the model'):
        load_weights(target, {'decode_head.w': torch.ones(1)}, name='x.pth')


# ------------------------------------------------------------------------- entry points
@pytest.fixture(scope='module')
def pretraining_checkpoint(tmp_path_factory):
    """A tiny SkySenseV2 whose teacher and student backbones differ, saved as a DDP-wrapped
    model's state dict (every key under ``module.``) inside an mmengine checkpoint dict."""
    from mmengine.config import Config

    from mmskysense.registry import MODELS
    from mmskysense.utils import register_all_modules

    register_all_modules()
    root = tmp_path_factory.mktemp('pretrain')
    text = root / 'text.pth'
    torch.save(dict(class_names=['a', 'b', 'c'], embeddings=torch.randn(3, 8)), text)
    options = {'model.ita_head.loss.text_embeddings': str(text)}
    cfg = Config.fromfile(str(TINY_PRETRAIN))
    cfg.merge_from_dict(options)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(torch.randn_like(p))
    state = OrderedDict(('module.' + k, v) for k, v in model.state_dict().items())
    path = root / 'iter_3.pth'
    torch.save(dict(meta=dict(iter=3), state_dict=state), path)
    return dict(
        path=str(path),
        options=options,
        state=model.state_dict(),
        teacher=model.teacher['backbone'].state_dict(),
        student=model.backbone.state_dict(),
    )


def _equal_to(state, ref, keys=None):
    keys = list(ref) if keys is None else keys
    return all(torch.equal(state[k], ref[k]) for k in keys)


@pytest.mark.parametrize('network', ['teacher', 'student'])
def test_entry_init_cfg_pretrained(pretraining_checkpoint, network):
    ck = pretraining_checkpoint
    model = SkySenseV2SingleModal(
        modality='s2',
        arch='tiny',
        out_indices=(3,),
        init_cfg=dict(type='Pretrained', checkpoint=ck['path'], network=network),
    )
    model.init_weights()
    report = model.pretrained_report
    assert report['missing_keys'] == [] and report['unexpected_keys'] == []
    assert _equal_to(model.state_dict(), ck[network], list(model.state_dict()))


def test_entry_init_model(pretraining_checkpoint):
    from mmskysense.apis import init_model

    ck = pretraining_checkpoint
    model, _ = init_model(str(TINY_PRETRAIN), ck['path'], cfg_options=ck['options'])
    assert model.checkpoint_report['missing_keys'] == []
    assert _equal_to(model.state_dict(), ck['state'])


def test_entry_knn_eval_build_model(pretraining_checkpoint):
    knn = _tool('tools/analysis_tools/knn_eval.py')
    ck = pretraining_checkpoint
    model = knn.build_model(str(TINY_PRETRAIN), ck['path'], seed=1, cfg_options=ck['options'])
    assert _equal_to(model.teacher['backbone'].state_dict(), ck['teacher'])
    assert _equal_to(model.backbone.state_dict(), ck['student'])


def test_entry_extract_teacher_backbone(pretraining_checkpoint, tmp_path):
    extract = _tool('tools/model_converters/extract_teacher_backbone.py')
    ck = pretraining_checkpoint
    dst = tmp_path / 'backbone.pth'
    extract.main([ck['path'], str(dst)])
    out = torch.load(dst, weights_only=False)
    assert out['meta']['iter'] == 3
    assert list(out['state_dict']) == ['backbone.' + k for k in ck['teacher']]
    assert _equal_to(
        {k[len('backbone.') :]: v for k, v in out['state_dict'].items()}, ck['teacher']
    )


def test_entry_v1_converter_unwraps_like_every_entry_point(tmp_path):
    """A DDP-saved SkySense V1 (mmpretrain SwinTransformerV2) checkpoint converts to the same
    file as the plain one."""
    swin = pytest.importorskip('mmpretrain.models.backbones.swin_transformer_v2')
    converter = _tool('tools/model_converters/skysense_v1_to_mmskysense.py')
    torch.manual_seed(0)
    ref = swin.SwinTransformerV2(
        arch=dict(
            embed_dims=32, depths=[1, 1, 2, 2], num_heads=[2, 4, 8, 16], extra_norm_every_n_blocks=0
        ),
        img_size=64,
        window_size=4,
        drop_path_rate=0.0,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True,
    )
    plain = {'backbone.' + k: v for k, v in ref.state_dict().items()}
    reports = []
    for name, state in (('plain', plain), ('ddp', {'module.' + k: v for k, v in plain.items()})):
        src = tmp_path / f'{name}.pth'
        torch.save(dict(state_dict=state), src)
        reports.append(
            converter.convert(
                str(src), str(tmp_path / f'{name}_out.pth'), arch='tiny', verbose=False
            )
        )
    assert reports[0] == reports[1] and reports[0]['mismatched'] == []
    a = torch.load(tmp_path / 'plain_out.pth')['state_dict']
    b = torch.load(tmp_path / 'ddp_out.pth')['state_dict']
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
