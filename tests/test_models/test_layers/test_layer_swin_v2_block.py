"""SwinV2Block / SwinV2WindowAttention against a naive per-window reference written here."""

import math

import pytest
import torch
import torch.nn.functional as F

from mmskysense.models.layers import SwinV2Block, SwinV2WindowAttention
from mmskysense.models.layers.swin_v2_block import (
    shifted_window_order,
    window_partition,
    window_reverse,
)


def naive_bias(attn: SwinV2WindowAttention, ws: int) -> torch.Tensor:
    """16 * sigmoid(MLP(log-spaced offsets)) for every token pair, by explicit loops."""
    n = ws * ws
    coords = [(i // ws, i % ws) for i in range(n)]
    norm = attn.norm_size - 1
    feats = torch.zeros(n, n, 2)
    for a, (ya, xa) in enumerate(coords):
        for b, (yb, xb) in enumerate(coords):
            for k, d in enumerate((ya - yb, xa - xb)):
                d = d / norm * 8
                feats[a, b, k] = math.copysign(math.log2(abs(d) + 1) / 3, d) if d else 0.0
    return 16 * torch.sigmoid(attn.cpb_mlp(feats)).permute(2, 0, 1)


def naive_block(block: SwinV2Block, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Res-post-norm block with per-window cosine attention written out token by token."""
    b, _, c = x.shape
    attn = block.attn
    ws, shift = block.window_size, block.shift_size
    if min(h, w) <= ws:
        ws, shift = min(h, w), 0
    hp, wp = -(-h // ws) * ws, -(-w // ws) * ws
    grid = torch.zeros(b, hp, wp, c)
    grid[:, :h, :w] = x.view(b, h, w, c)
    grid = torch.roll(grid, (-shift, -shift), (1, 2))

    def region(r: int, size: int) -> int:
        return 0 if r < size - ws else (1 if r < size - shift else 2)

    heads = attn.num_heads
    d = c // heads
    wq = attn.qkv.weight
    bias = naive_bias(attn, ws)
    scale = attn.logit_scale.clamp(max=math.log(100)).exp().view(heads)
    out = torch.zeros_like(grid)
    for wy in range(0, hp, ws):
        for wx in range(0, wp, ws):
            cells = [(wy + i, wx + j) for i in range(ws) for j in range(ws)]
            tok = torch.stack([grid[:, y, x_] for y, x_ in cells], 1)  # b, n, c
            q = tok @ wq[:c].t() + attn.q_bias
            k = tok @ wq[c : 2 * c].t()
            v = tok @ wq[2 * c :].t() + attn.v_bias
            res = []
            for hd in range(heads):
                sl = slice(hd * d, (hd + 1) * d)
                qn, kn = F.normalize(q[..., sl], dim=-1), F.normalize(k[..., sl], dim=-1)
                logits = qn @ kn.transpose(1, 2)
                logits = logits * scale[hd] + bias[hd]
                if shift:
                    lab = torch.tensor([region(y, hp) * 3 + region(x_, wp) for y, x_ in cells])
                    logits = logits + (lab[None, :] != lab[:, None]).float() * -100.0
                res.append(logits.softmax(-1) @ v[..., sl])
            o = attn.proj(torch.cat(res, -1))
            for t, (y, x_) in enumerate(cells):
                out[:, y, x_] = o[:, t]
    out = torch.roll(out, (shift, shift), (1, 2))[:, :h, :w].reshape(b, h * w, c)
    x = x + block.norm1(out)
    return x + block.norm2(block.ffn(x))


def make_block(
    shift: bool, window: int = 4, dims: int = 16, heads: int = 2, pretrained_window_size: int = 0
) -> SwinV2Block:
    torch.manual_seed(0)
    block = SwinV2Block(
        dims, heads, window, shift=shift, pretrained_window_size=pretrained_window_size
    ).eval()
    with torch.no_grad():  # non-trivial biases and temperatures
        block.attn.q_bias.normal_(0, 0.5)
        block.attn.v_bias.normal_(0, 0.5)
        block.attn.logit_scale.uniform_(0.0, 3.0)
        block.attn.cpb_mlp[0].weight.normal_(0, 1.0)
        block.attn.cpb_mlp[2].weight.normal_(0, 0.1)
        block.norm1.weight.normal_(1.0, 0.2)
    return block


def test_window_partition_roundtrip():
    x = torch.randn(2, 8, 12, 3)
    win = window_partition(x, 4)
    assert win.shape == (2, 6, 16, 3)
    assert torch.equal(win[0, 1], x[0, 0:4, 4:8].reshape(16, 3))
    assert torch.equal(window_reverse(win, 4, 8, 12), x)


def rolled_windows(x: torch.Tensor, ws: int, shift: int) -> torch.Tensor:
    """Cyclic shift then windows by token coordinates (``B x nW x ws*ws x C``), written here."""
    b, h, w, c = x.shape
    x = torch.roll(x, (-shift, -shift), (1, 2))
    wins = [
        x[:, y : y + ws, x0 : x0 + ws].reshape(b, ws * ws, c)
        for y in range(0, h, ws)
        for x0 in range(0, w, ws)
    ]
    return torch.stack(wins, 1)


@pytest.mark.parametrize('h,w,ws,shift', [(8, 8, 4, 2), (12, 8, 4, 2), (9, 6, 3, 1), (8, 8, 4, 0)])
def test_shifted_window_order_is_roll_then_partition(h, w, ws, shift):
    x = torch.randn(2, h, w, 5)
    order = shifted_window_order(h, w, ws, shift)
    assert sorted(order.tolist()) == list(range(h * w))
    got = x.reshape(2, h * w, 5)[:, order].view(2, -1, ws * ws, 5)
    assert torch.equal(got, rolled_windows(x, ws, shift))


def roll_reference(block: SwinV2Block, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The block's window attention with torch.roll and the windows cut out here."""
    b, _, c = x.shape
    ws, shift = block.window_size, block.shift_size
    hp, wp = -(-h // ws) * ws, -(-w // ws) * ws
    grid = F.pad(x.view(b, h, w, c), (0, 0, 0, wp - w, 0, hp - h))
    mask = None
    if shift:
        img = torch.zeros(1, hp, wp, 1)
        for i, rs in enumerate((slice(0, -ws), slice(-ws, -shift), slice(-shift, None))):
            for j, cs in enumerate((slice(0, -ws), slice(-ws, -shift), slice(-shift, None))):
                img[:, rs, cs] = 3 * i + j
        ids = rolled_windows(img, ws, 0)[0, ..., 0]
        mask = (ids[:, :, None] != ids[:, None, :]).float() * -100.0
    out = block.attn(rolled_windows(grid, ws, shift), ws, mask)  # b, nW, N, c
    out = out.view(b, hp // ws, wp // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    out = torch.roll(out.reshape(b, hp, wp, c), (shift, shift), (1, 2))
    return out[:, :h, :w].reshape(b, h * w, c)


@pytest.mark.parametrize('shift,h,w', [(True, 8, 8), (True, 13, 10), (False, 13, 10)])
def test_window_gather_equals_roll_and_partition_with_gradients(shift, h, w):
    """The shifted windows taken by one gather (and put back by its inverse) give the output
    and the input gradient of torch.roll + partition + reverse + roll, bit for bit."""
    block = make_block(shift)
    assert block.window_size == 4 and block.shift_size == (2 if shift else 0)
    x = torch.randn(2, h * w, 16, requires_grad=True)
    up = torch.randn(2, h * w, 16)
    results = []
    for fn in (block.window_attention, lambda t, hw: roll_reference(block, t, *hw)):
        x.grad = None
        out = fn(x, (h, w))
        out.backward(up)
        results.append((out.detach(), x.grad.clone()))
    (out, grad), (ref_out, ref_grad) = results
    assert torch.equal(out, ref_out)
    assert torch.equal(grad, ref_grad)
    assert grad.abs().max() > 0.1


def test_shifted_layout_built_in_inference_mode_does_not_break_training():
    """The cached window order is saved for backward: one built under inference_mode (its
    tensors cannot be saved) must not be the one a later training step gets."""
    block = make_block(True)
    x = torch.randn(2, 64, 16)
    with torch.inference_mode():
        ref = block(x, (8, 8))
    xg = x.clone().requires_grad_(True)
    out = block(xg, (8, 8))
    out.sum().backward()
    assert torch.equal(out.detach(), ref)
    assert xg.grad.abs().max() > 0


@pytest.mark.parametrize('ws,pretrained', [(4, 0), (3, 0), (3, 6)])
def test_log_spaced_continuous_position_bias(ws, pretrained):
    torch.manual_seed(0)
    attn = SwinV2WindowAttention(8, 2, ws, pretrained_window_size=pretrained)
    torch.testing.assert_close(attn.position_bias(ws), naive_bias(attn, ws))
    # A smaller effective window reuses the same bias for the same offsets.
    small = attn.position_bias(2)
    big = attn.position_bias(ws)
    assert torch.allclose(small[:, 0, 1], big[:, 0, 1])


@pytest.mark.parametrize('shift,h,w', [(False, 8, 8), (True, 8, 8), (True, 10, 9), (False, 6, 12)])
def test_block_matches_naive_reference(shift, h, w):
    block = make_block(shift)
    x = torch.randn(2, h * w, 16)
    with torch.no_grad():
        torch.testing.assert_close(
            block(x, (h, w)), naive_block(block, x, h, w), rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize('with_cp', [False, True])
@pytest.mark.parametrize('shift', [False, True])
def test_a_list_of_maps_is_each_the_block_on_it_alone(shift, with_cp):
    """Maps of different sizes and batch sizes in one call (one attention per window size, the
    norms and FFN once over all tokens): each output and every gradient are those of the naive
    block on that map alone. The maps give full windows, padded ones, a second map of the same
    padded size (the shifted windows share a mask) and maps no larger than a window."""
    block = make_block(shift)
    block.with_cp = with_cp
    shapes = [(8, 8), (10, 9), (3, 3), (8, 8), (2, 5), (1, 1)]
    batches = [2, 1, 3, 1, 2, 4]
    xs = [torch.randn(b, h * w, 16, requires_grad=True) for b, (h, w) in zip(batches, shapes)]
    outs = block(xs, shapes)
    assert isinstance(outs, list) and len(outs) == len(xs)
    for x, y, (h, w) in zip(xs, outs, shapes, strict=True):
        torch.testing.assert_close(y, naive_block(block, x, h, w), rtol=1e-5, atol=1e-5)
    weights = [torch.linspace(-1, 1, y.numel()).view_as(y) for y in outs]
    sum((y * v).sum() for y, v in zip(outs, weights, strict=True)).backward()
    got = [x.grad.clone() for x in xs] + [p.grad.clone() for p in block.parameters()]
    for x in xs:
        x.grad = None
    block.zero_grad()
    ref = [naive_block(block, x, h, w) for x, (h, w) in zip(xs, shapes, strict=True)]
    sum((y * v).sum() for y, v in zip(ref, weights, strict=True)).backward()
    want = [x.grad for x in xs] + [p.grad for p in block.parameters()]
    for i, (g, w_) in enumerate(zip(got, want, strict=True)):
        # a parameter's gradient sums over every token of every map: float32 accumulation in
        # another order (measured up to 2e-4 relative with 2 threads) is the only difference
        tol = dict(rtol=1e-4, atol=1e-5) if i < len(xs) else dict(rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(g, w_, **tol)
    with pytest.raises(ValueError, match='2 token tensors but 1 hw_shapes'):
        block(xs[:2], shapes[:1])


@pytest.mark.parametrize('shift', [False, True])
def test_fused_sdpa_path_equals_matmul_path(shift):
    """The 4-D SDPA path (taken on CUDA) gives what the matmul path gives."""
    block = make_block(shift)
    x = torch.randn(2, 64, 16, requires_grad=True)
    outs, grads = [], []
    for fused in (False, True):
        block.attn.fused_sdpa = fused
        x.grad = None
        out = block(x, (8, 8))
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append(x.grad.clone())
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5)


def test_small_map_uses_one_unshifted_window():
    """A 3x3 map with window 4: one 3x3 window, no shift (the Swin V2 reference's rule)."""
    block = make_block(shift=True)
    x = torch.randn(1, 9, 16)
    with torch.no_grad():
        out = block(x, (3, 3))
        torch.testing.assert_close(out, naive_block(block, x, 3, 3), rtol=1e-5, atol=1e-5)
    # Every token sees every other: the output of token 0 depends on token 8.
    x.requires_grad_(True)
    block(x, (3, 3))[0, 0].sum().backward()
    assert x.grad[0, 8].abs().sum() > 0


def test_shifted_mask_blocks_cross_region_attention():
    """8x8 map, window 4, shift 2: token (0, 0) is cyclically shifted into the bottom-right
    window together with tokens of the other map border, which it must not attend to."""
    block = make_block(shift=True)
    x = torch.randn(1, 64, 16, requires_grad=True)
    y = block.window_attention(x, (8, 8))
    y[0, 0].sum().backward()
    grad = x.grad[0].abs().sum(-1).view(8, 8)
    assert grad[0, 0] > 0 and grad[1, 1] > 0  # same region
    # (7, 7) shares the shifted window with (0, 0) but lies in another region: masked (-100).
    assert grad[7, 7] < 1e-30 * grad[0, 0] + 1e-30


def test_token_count_mismatch_raises():
    block = make_block(False)
    with pytest.raises(ValueError, match='hw_shape'):
        block(torch.randn(1, 10, 16), (3, 3))


def test_heads_must_divide_channels():
    with pytest.raises(ValueError, match='num_heads'):
        SwinV2WindowAttention(10, 3, 4)


@pytest.mark.parametrize('shift', [False, True])
def test_fused_path_passes_the_bias_as_a_view_over_the_images(shift, monkeypatch):
    """The SDPA path gets a bias with a batch dimension of 1 (broadcast over the images, never
    copied per image), and still gives the matmul path's output."""
    block = make_block(shift)
    x = torch.randn(3, 64, 16)
    seen = []
    sdpa = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kwargs):
        seen.append((tuple(q.shape), tuple(attn_mask.shape)))
        return sdpa(q, k, v, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', spy)
    with torch.no_grad():
        block.attn.fused_sdpa = False
        ref = block(x, (8, 8))
        block.attn.fused_sdpa = True
        out = block(x, (8, 8))
    (q_shape, mask_shape), heads, windows = seen[-1], 2, 4
    assert mask_shape[0] == 1 and mask_shape[1:] == q_shape[1:3] + (16,)
    assert q_shape[:2] == ((3, windows * heads) if shift else (3 * windows, heads))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_bias_tables_of_other_window_sizes_are_cached_on_the_device():
    attn = SwinV2WindowAttention(8, 2, 4)
    first = attn.bias_tables(3)
    assert attn.bias_tables(3)[0] is first[0] and attn.bias_tables(3)[1] is first[1]
    assert attn.bias_tables(4)[0] is attn.relative_coords_table
    assert first[0].device == attn.logit_scale.device
    torch.testing.assert_close(attn.position_bias(3), naive_bias(attn, 3))


def test_position_bias_is_cached_without_gradient_and_follows_the_weights():
    """Without gradient the bias is computed once and reused (issue 29); a change of the bias
    MLP's weights (in place, loaded, or replaced) recomputes it; with gradient it is never
    cached (the MLP learns)."""
    import copy
    import pickle

    torch.manual_seed(0)
    attn = SwinV2WindowAttention(8, 2, 4)
    with torch.no_grad():
        first = attn.position_bias(4)
        assert attn.position_bias(4) is first
        torch.testing.assert_close(first, naive_bias(attn, 4))
        attn.cpb_mlp[2].weight.mul_(3.0)  # in place (an optimiser step)
        moved = attn.position_bias(4)
        assert moved is not first
        torch.testing.assert_close(moved, naive_bias(attn, 4))
        state = {k: torch.randn_like(v) for k, v in attn.cpb_mlp.state_dict().items()}
        attn.cpb_mlp.load_state_dict(state, assign=True)  # replaced tensors
        torch.testing.assert_close(attn.position_bias(4), naive_bias(attn, 4))
        attn.position_bias(4)
        twin = copy.deepcopy(attn)
        with torch.no_grad():
            twin.cpb_mlp[0].weight.add_(1.0)
        torch.testing.assert_close(twin.position_bias(4), naive_bias(twin, 4))
        pickle.loads(pickle.dumps(attn))  # the cache does not travel
    trained = attn.position_bias(4)
    assert trained.requires_grad and trained is not attn.position_bias(4)
