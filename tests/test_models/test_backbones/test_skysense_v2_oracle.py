"""Oracle: weights converted from mmpretrain's SwinTransformerV2 by the converter tool make our HR
path through stages 1-2 reproduce mmpretrain's stages 1-2."""

import importlib.util
import os.path as osp

import pytest
import torch

from mmskysense.models.backbones import SkySenseV2SingleModal, checkpoint_filter_fn

mmpretrain_swin = pytest.importorskip('mmpretrain.models.backbones.swin_transformer_v2')

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))
_spec = importlib.util.spec_from_file_location(
    'skysense_v1_to_mmskysense',
    osp.join(ROOT, 'tools', 'model_converters', 'skysense_v1_to_mmskysense.py'),
)
converter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(converter)

OUR_ARCH = dict(
    embed_dims=32,
    depths=[2, 2, 2, 2],
    head_dim=16,
    window_size=4,
    mlp_ratio=4.0,
    num_prompts=2,
    prompt_stages=(2, 3),
    num_experts=4,
    moe_top_k=1,
    moe_blocks=2,
)


def mmpretrain_reference(depths=(2, 2, 2, 2), extra_norm=0, seed=0):
    torch.manual_seed(seed)
    ref = mmpretrain_swin.SwinTransformerV2(
        arch=dict(
            embed_dims=32,
            depths=list(depths),
            num_heads=[2, 4, 8, 16],
            extra_norm_every_n_blocks=extra_norm,
        ),
        img_size=64,
        window_size=4,
        drop_path_rate=0.0,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True,
    )  # stage 3-4 maps are smaller than the window; stages 1-2 are not
    ref.eval()  # mmpretrain's train() returns None: no chaining
    with torch.no_grad():  # move norms, biases and temperatures away from their init values
        for name, p in ref.named_parameters():
            if 'norm' in name or 'bias' in name or 'logit_scale' in name:
                p.add_(0.2 * torch.randn_like(p))
    return ref


def save_mmpretrain_checkpoint(ref, path):
    state = {'backbone.' + k: v for k, v in ref.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(5, 256)  # a classifier head, not backbone
    torch.save(dict(state_dict=state, meta=dict(mmcls_version='1.0')), path)


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize('size', [(64, 64), (60, 44)])
def test_stages_1_2_equal_mmpretrain_after_conversion(tmp_path, size):
    ref = mmpretrain_reference()
    src, dst = tmp_path / 'v1.pth', tmp_path / 'ours.pth'
    save_mmpretrain_checkpoint(ref, src)
    report = converter.convert(str(src), str(dst), arch=OUR_ARCH, verbose=False)
    assert report['mismatched'] == [] and report['unexpected'] == []
    assert report['source_head_dim'] == 16
    # Only what a Swin V2 checkpoint cannot provide is missing: prompts, MS/SAR tokenizers.
    assert all(
        k.startswith(('stages.2.prompts', 'stages.3.prompts', 'tokenizers.s2', 'tokenizers.s1'))
        for k in report['missing']
    )
    assert any('cpb_mlp' in k for k in report['dropped'])  # window-only tensors of stages 3-4

    ours = SkySenseV2SingleModal(
        arch=OUR_ARCH, drop_path_rate=0.0, init_cfg=dict(type='Pretrained', checkpoint=str(dst))
    )
    ours.init_weights()
    ours.eval()
    assert ours.pretrained_report['unexpected_keys'] == []
    # single-modal HR model: its prompts, and the gates of the MoE blocks (upcycled experts)
    assert sorted(ours.pretrained_report['missing_keys']) == [
        'stages.2.prompts.tokens.hr',
        'stages.3.blocks.0.ffn.gate.weight',
        'stages.3.blocks.1.ffn.gate.weight',
        'stages.3.prompts.tokens.hr',
    ]

    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        theirs = ref(x)
        mine = ours(x)
    for i in (0, 1):
        assert mine[i].shape == theirs[i].shape
        assert rel_err(mine[i], theirs[i]) < 1e-5, f'stage {i + 1}'
    # stage 3-4 shapes agree too (different blocks: global attention)
    assert [m.shape for m in mine[2:]] == [t.shape for t in theirs[2:]]


def test_raw_mmpretrain_checkpoint_loads_through_the_filter(tmp_path):
    """No converter run: init_cfg / load_pretrained on the raw V1 file, and
    checkpoint_filter_fn on its bare state dict, give the same model."""
    ref = mmpretrain_reference()
    src = tmp_path / 'v1.pth'
    save_mmpretrain_checkpoint(ref, src)
    ours = SkySenseV2SingleModal(arch=OUR_ARCH, drop_path_rate=0.0)
    report = ours.load_pretrained(str(src))
    assert report['unexpected_keys'] == [] and report['mismatched_keys'] == []
    assert any('cpb_mlp' in k for k in report['dropped_keys'])
    # MoE blocks received the dense FFN in every expert (upcycling); their gates are new.
    assert 'stages.3.blocks.1.ffn.gate.weight' in report['missing_keys']
    moe = ours.stages[3].blocks[1].ffn
    fc1 = ref.state_dict()['stages.3.blocks.1.ffn.layers.0.0.weight']
    assert all(torch.equal(w, fc1) for w in moe.experts.fc1.weight)
    ours.eval()
    plain = SkySenseV2SingleModal(arch=OUR_ARCH, drop_path_rate=0.0).eval()
    state = checkpoint_filter_fn(ref.state_dict(), plain)  # bare keys, no prefix
    result = plain.load_state_dict(state, strict=False)
    assert result.unexpected_keys == []
    assert all('prompts' in k or k.endswith('gate.weight') for k in result.missing_keys)
    own = ours.state_dict()
    plain.load_state_dict({k: own[k] for k in result.missing_keys}, strict=False)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert rel_err(ours(x)[1], ref(x)[1]) < 1e-5
        torch.testing.assert_close(plain(x), ours(x))


def test_head_dim_mismatch_is_reported(tmp_path):
    ref = mmpretrain_reference()
    src, dst = tmp_path / 'v1.pth', tmp_path / 'ours.pth'
    save_mmpretrain_checkpoint(ref, src)
    report = converter.convert(str(src), str(dst), arch=dict(OUR_ARCH, head_dim=8), verbose=False)
    assert report['source_head_dim'] == 16 and report['target_head_dim'] == 8
    assert any('stages.0.blocks.0.attn.cpb_mlp.2.weight' in m for m in report['mismatched'])
    written = torch.load(dst, map_location='cpu')['state_dict']
    assert 'backbone.stages.0.blocks.0.attn.cpb_mlp.2.weight' not in written
    assert 'backbone.stages.0.blocks.0.attn.qkv.weight' in written


def test_converter_command_line(tmp_path, capsys):
    # shapes of our 'tiny'; the extra norm (as mmpretrain's huge) lands in stages 3-4 only
    ref = mmpretrain_reference(depths=(1, 1, 2, 2), extra_norm=2)
    src, dst = tmp_path / 'v1.pth', tmp_path / 'ours.pth'
    save_mmpretrain_checkpoint(ref, src)
    report = converter.main([str(src), str(dst), '--arch', 'tiny'])
    printed = capsys.readouterr().out
    assert 'tensors written' in printed and 'mismatched (0)' in printed
    assert 'stages.2.blocks.1.norm3.weight' in report['dropped']
    assert 'stages.3.blocks.1.norm3.bias' in report['dropped']
    state = torch.load(dst, map_location='cpu')['state_dict']
    assert all(k.startswith('backbone.') for k in state)
    assert not any('relative_position_index' in k or 'relative_coords_table' in k for k in state)
    q = ref.state_dict()['stages.2.blocks.0.attn.w_msa.q_bias']
    v = ref.state_dict()['stages.2.blocks.0.attn.w_msa.v_bias']
    torch.testing.assert_close(
        state['backbone.stages.2.blocks.0.attn.qkv.bias'], torch.cat([q, torch.zeros_like(q), v])
    )
