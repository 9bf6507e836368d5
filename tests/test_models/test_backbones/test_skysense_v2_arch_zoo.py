"""Every arch_zoo preset builds; big ones on the meta device; the paper's parameter counts."""

import pytest
import torch

from mmskysense.models.backbones import SkySenseV2Backbone


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('arch', ['tiny', 'small'])
def test_small_presets_run(arch):
    torch.manual_seed(0)
    # 'small' dense: its MoE would only add build time; the MoE path runs in 'tiny'
    model = SkySenseV2Backbone(arch, drop_path_rate=0.0, use_moe=arch == 'tiny').eval()
    c = model.embed_dims
    with torch.no_grad():
        out = model(
            dict(
                hr=torch.randn(1, 3, 64, 64),
                s2=torch.randn(1, 10, 16, 16),
                s1=torch.randn(1, 1, 2, 16, 16),
            )
        )
    assert [tuple(o.shape) for o in out['hr']] == [
        (1, c * 2**i, 16 // 2**i, 16 // 2**i) for i in range(4)
    ]
    assert [tuple(o.shape) for o in out['s1']] == [(1, 1, c * 2**i, 4, 4) for i in range(4)]
    assert all(torch.isfinite(o).all() for v in out.values() for o in v)


@pytest.mark.parametrize('arch', ['base', 'large', 'huge'])
def test_big_presets_on_meta_device(arch):
    with torch.device('meta'):
        model = SkySenseV2Backbone(arch, use_moe=False)
        out = model(dict(hr=torch.empty(1, 3, 64, 64), s2=torch.empty(1, 10, 16, 16)))
    c = SkySenseV2Backbone.arch_zoo[arch]['embed_dims']
    assert [tuple(o.shape) for o in out['hr']] == [
        (1, c * 2**i, 16 // 2**i, 16 // 2**i) for i in range(4)
    ]
    assert [tuple(o.shape) for o in out['s2']] == [(1, c * 2**i, 4, 4) for i in range(4)]


def test_presets_grow():
    counts = []
    for arch in ('tiny', 'small', 'base', 'large', 'huge'):
        with torch.device('meta'):
            counts.append(n_params(SkySenseV2Backbone(arch, use_moe=False)))
    assert counts == sorted(counts)


def test_huge_parameter_counts_match_paper():
    with torch.device('meta'):
        dense = SkySenseV2Backbone('huge', use_moe=False)
        moe = SkySenseV2Backbone('huge', use_moe=True)
    assert abs(n_params(dense) / 1e6 - 661.40) / 661.40 < 0.02
    assert abs(n_params(moe) / 1e6 - 1994.10) / 1994.10 < 0.02
    tokenizers = n_params(dense.tokenizers) / 1e6
    assert tokenizers == pytest.approx(0.088, abs=0.002)
    moe_blocks = [b for s in moe.stages for b in s.blocks if hasattr(b.ffn, 'num_experts')]
    assert len(moe_blocks) == 6 and all(
        b.ffn.num_experts == 8 and b.ffn.top_k == 1 for b in moe_blocks
    )
    # the last 4 blocks of stage 3 and both of stage 4
    assert [b for s in moe.stages[2:] for b in s.blocks][-6:] == moe_blocks
    heads = [s.blocks[0].attn.num_heads for s in dense.stages]
    assert heads == [11, 22, 44, 88]


def test_count_parameters_tool_prints_the_table(capsys, monkeypatch):
    import importlib.util
    import os.path as osp

    root = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))
    spec = importlib.util.spec_from_file_location(
        'count_parameters', osp.join(root, 'tools', 'analysis_tools', 'count_parameters.py')
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr('sys.argv', ['count_parameters.py', '--arch', 'huge'])
    tool.main()
    out = capsys.readouterr().out
    assert 'stage 3 FFN / experts+gate' in out and 'tokenizer s2' in out
    assert out.count(' OK') == 2 and 'OUTSIDE' not in out
