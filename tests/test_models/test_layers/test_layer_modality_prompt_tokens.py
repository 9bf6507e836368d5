"""ModalityPromptTokens (eq. 1): prepend per-modality tokens, drop them afterwards."""

import pytest
import torch

from mmskysense.models.layers import GlobalTransformerBlock, ModalityPromptTokens


def test_prepend_then_drop_roundtrip():
    prompts = ModalityPromptTokens(['hr', 's2'], 3, 8)
    x = torch.randn(2, 5, 8)
    y = prompts.prepend(x, 's2')
    assert y.shape == (2, 8, 8)
    assert torch.equal(y[0, :3], prompts.tokens['s2'].detach())
    assert torch.equal(y[1, :3], prompts.tokens['s2'].detach())
    assert torch.equal(prompts.drop(y), x)


def test_prompts_change_output_through_attention_only_for_their_modality():
    torch.manual_seed(0)
    prompts = ModalityPromptTokens(['hr', 's1'], 2, 16)
    block = GlobalTransformerBlock(16, 2).eval()
    x = torch.randn(1, 6, 16)

    def run(m):
        return prompts.drop(block(prompts.prepend(x, m)))

    hr, s1 = run('hr'), run('s1')
    assert hr.shape == x.shape
    assert not torch.allclose(hr, s1)  # different prompts, different context
    with torch.no_grad():
        prompts.tokens['hr'].add_(1.0)
    assert torch.equal(run('s1'), s1)
    assert not torch.allclose(run('hr'), hr)


def test_unknown_modality_raises():
    prompts = ModalityPromptTokens(['hr'], 2, 4)
    with pytest.raises(KeyError, match="'s2'"):
        prompts.prepend(torch.randn(1, 3, 4), 's2')
