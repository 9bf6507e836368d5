"""ModalityTokenizer: 4x4 patches, linear embedding, LayerNorm; clear errors."""

import pytest
import torch
import torch.nn.functional as F

from mmskysense.models.layers import ModalityTokenizer


def test_equals_linear_embedding_of_flattened_patches():
    torch.manual_seed(0)
    tok = ModalityTokenizer(10, 16, name='s2')
    x = torch.randn(2, 10, 8, 12)
    out, hw = tok(x)
    assert hw == (2, 3) and out.shape == (2, 6, 16)
    patches = F.unfold(x, 4, stride=4).transpose(1, 2)  # B, h*w, 10*16
    emb = patches @ tok.proj.weight.view(16, -1).t() + tok.proj.bias
    torch.testing.assert_close(out, tok.norm(emb), rtol=1e-5, atol=1e-5)


def test_pads_sizes_not_multiple_of_patch():
    tok = ModalityTokenizer(3, 8)
    x = torch.randn(1, 3, 9, 6)
    out, hw = tok(x)
    assert hw == (3, 2)
    ref, _ = tok(F.pad(x, (0, 2, 0, 3)))
    torch.testing.assert_close(out, ref)


def test_wrong_channels_and_ndim_raise():
    tok = ModalityTokenizer(10, 8, name='s2')
    with pytest.raises(ValueError, match=r"'s2'.*expected 10 input channels.*got 3"):
        tok(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match='4-D'):
        tok(torch.randn(10, 8, 8))
