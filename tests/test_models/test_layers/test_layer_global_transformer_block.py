"""GlobalTransformerBlock: pre-norm block with SDPA, against a manual softmax attention."""

import pytest
import torch

from mmskysense.models.layers import GlobalTransformerBlock


def test_matches_manual_attention():
    torch.manual_seed(0)
    block = GlobalTransformerBlock(16, 4).eval()
    x = torch.randn(2, 7, 16)
    h = block.norm1(x)
    qkv = block.attn.qkv(h).view(2, 7, 3, 4, 4)
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
    attn = (q @ k.transpose(-1, -2) / 2.0).softmax(-1)  # 1/sqrt(head_dim=4)
    y = x + block.attn.proj((attn @ v).transpose(1, 2).reshape(2, 7, 16))
    ref = y + block.ffn(block.norm2(y))
    with torch.no_grad():
        torch.testing.assert_close(block(x), ref, rtol=1e-5, atol=1e-5)


def test_every_token_attends_globally():
    block = GlobalTransformerBlock(8, 2)
    x = torch.randn(1, 50, 8, requires_grad=True)
    block(x)[0, 0].sum().backward()
    assert (x.grad[0].abs().sum(-1) > 0).all()


def test_bad_shape_raises():
    with pytest.raises(ValueError, match='B x N x 8'):
        GlobalTransformerBlock(8, 2)(torch.randn(2, 3, 4))
