"""GlobalTransformerBlock: pre-norm block with SDPA, against a manual softmax attention."""

import pytest
import torch

from mmskysense.models.layers import GlobalTransformerBlock


def manual_block(block: GlobalTransformerBlock, x: torch.Tensor) -> torch.Tensor:
    """The block written out (C 16, 4 heads, dense FFN): softmax attention, then the FFN."""
    b, n, _ = x.shape
    h = block.norm1(x)
    qkv = block.attn.qkv(h).view(b, n, 3, 4, 4)
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
    attn = (q @ k.transpose(-1, -2) / 2.0).softmax(-1)  # 1/sqrt(head_dim=4)
    y = x + block.attn.proj((attn @ v).transpose(1, 2).reshape(b, n, 16))
    f = block.ffn
    return y + f.fc2(torch.nn.functional.gelu(f.fc1(block.norm2(y))))


def test_matches_manual_attention():
    torch.manual_seed(0)
    block = GlobalTransformerBlock(16, 4).eval()
    x = torch.randn(2, 7, 16)
    with torch.no_grad():
        torch.testing.assert_close(block(x), manual_block(block, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('with_cp', [False, True])
def test_a_list_of_sequences_is_each_attended_alone(with_cp):
    """Sequences of different lengths and batch sizes in one call (one product per token-wise
    layer for all, one attention per length): each output and every gradient are those of the
    block on that sequence alone."""
    torch.manual_seed(0)
    block = GlobalTransformerBlock(16, 4, with_cp=with_cp)
    # two of one length: attended in one batch, each sample within itself
    xs = [
        torch.randn(2, 7, 16),
        torch.randn(3, 4, 16),
        torch.randn(1, 11, 16),
        torch.randn(3, 7, 16),
    ]
    xs = [x.requires_grad_(True) for x in xs]
    outs = block(xs)
    assert isinstance(outs, list) and len(outs) == 4
    for x, y in zip(xs, outs, strict=True):
        torch.testing.assert_close(y, manual_block(block, x), rtol=1e-5, atol=1e-5)
    sum((y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum() for y in outs).backward()
    got = [x.grad.clone() for x in xs] + [p.grad.clone() for p in block.parameters()]
    for x in xs:
        x.grad = None
    block.zero_grad()
    ref = [manual_block(block, x) for x in xs]
    sum((y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum() for y in ref).backward()
    want = [x.grad for x in xs] + [p.grad for p in block.parameters()]
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match='B x N x 16'):
        block([xs[0], torch.randn(2, 3, 8)])


def test_a_list_through_a_moe_records_one_balance_loss_per_sequence():
    from mmskysense.models.layers import MixtureOfExperts

    torch.manual_seed(0)
    block = GlobalTransformerBlock(16, 4, ffn=MixtureOfExperts(16, 32, num_experts=4))
    xs = [torch.randn(2, 7, 16), torch.randn(1, 5, 16)]
    block(xs)
    assert len(block.ffn._records) == 2
    assert [int(c.sum()) for _, c in block.ffn._records] == [14, 5]


def test_every_token_attends_globally():
    block = GlobalTransformerBlock(8, 2)
    x = torch.randn(1, 50, 8, requires_grad=True)
    block(x)[0, 0].sum().backward()
    assert (x.grad[0].abs().sum(-1) > 0).all()


def test_bad_shape_raises():
    with pytest.raises(ValueError, match='B x N x 8'):
        GlobalTransformerBlock(8, 2)(torch.randn(2, 3, 4))
