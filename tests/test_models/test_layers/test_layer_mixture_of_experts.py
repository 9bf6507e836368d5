"""MixtureOfExperts (eq. 2): dispatch (grouped product and loop), gradients, Switch balance loss,
load, old checkpoint layouts (per-expert modules, dense FFN) by stack_expert_weights (applied by
checkpoint_filter_fn, rule 7: tests/test_models/test_backbones/test_checkpoint_filter.py)."""

import pytest
import torch
import torch.nn.functional as F

from mmskysense.models.layers import FeedForward, MixtureOfExperts
from mmskysense.models.layers.mixture_of_experts import grouped_mm_available, stack_expert_weights


def loop_over_experts(moe: MixtureOfExperts, x: torch.Tensor) -> torch.Tensor:
    """Reference: every expert on every token, kept where the expert is in the token's top-k."""
    probs = F.softmax(x @ moe.gate.weight.t(), dim=-1)
    vals, idx = probs.topk(moe.top_k, dim=-1)
    out = torch.zeros_like(x)
    for e in range(moe.num_experts):
        w1, b1 = moe.experts.fc1.weight[e], moe.experts.fc1.bias[e]
        w2, b2 = moe.experts.fc2.weight[e], moe.experts.fc2.bias[e]
        y = F.gelu(x @ w1.t() + b1) @ w2.t() + b2
        weight = (vals * (idx == e)).sum(-1, keepdim=True)
        out = out + weight * y
    return out


@pytest.mark.parametrize('top_k', [1, 2])
def test_vectorised_dispatch_equals_loop_over_experts(top_k):
    torch.manual_seed(0)
    moe = MixtureOfExperts(16, 32, num_experts=4, top_k=top_k)
    with torch.no_grad():
        moe.gate.weight.normal_(0, 1.0)  # spread the routing over the experts
        moe.experts.fc1.bias.normal_()
        moe.experts.fc2.bias.normal_()
    x = torch.randn(3, 50, 16)
    out, loss, counts = moe(x)
    ref = loop_over_experts(moe, x.reshape(-1, 16)).view_as(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    assert counts.sum().item() == 150 * top_k
    assert (counts > 0).sum() >= 2  # several experts really used


def test_gate_and_experts_receive_gradients():
    torch.manual_seed(0)
    moe = MixtureOfExperts(8, 16, num_experts=4, top_k=1)
    x = torch.randn(64, 8, requires_grad=True)
    out, loss, _ = moe(x)
    (out.square().sum() + loss).backward()
    assert moe.gate.weight.grad is not None and moe.gate.weight.grad.abs().sum() > 0
    assert x.grad.abs().sum() > 0
    # Experts that received tokens get gradients, the others zeros (not None: DDP-friendly).
    _, _, counts = moe(x)
    grad = moe.experts.fc1.weight.grad
    assert grad is not None
    for e in range(moe.num_experts):
        assert bool(grad[e].abs().sum() > 0) == bool(counts[e] > 0)


def test_idle_experts_get_zero_gradients():
    moe = MixtureOfExperts(8, 16, num_experts=4, top_k=1)
    with torch.no_grad():
        moe.gate.weight.zero_()
        moe.gate.weight[2] = 1.0  # every positive-sum token goes to expert 2
    x = torch.rand(10, 8)
    out, _, counts = moe(x)
    assert counts.tolist() == [0, 0, 10, 0]
    out.sum().backward()
    grad = moe.experts.fc2.weight.grad
    for e in (0, 1, 3):
        assert grad is not None and torch.equal(grad[e], torch.zeros_like(grad[e]))
    assert grad[2].abs().sum() > 0


def test_gate_gradient_through_output_alone():
    """Eq. 2 multiplies the expert output by the gate value, so the task loss trains the gate."""
    torch.manual_seed(1)
    moe = MixtureOfExperts(8, 16, num_experts=4, top_k=1)
    out, _, _ = moe(torch.randn(32, 8))
    out.sum().backward()
    assert moe.gate.weight.grad.abs().sum() > 0


def test_switch_balance_loss_hand_checked():
    """2 experts, 4 tokens; the gate logits are set so that the probabilities are known."""
    moe = MixtureOfExperts(2, 4, num_experts=2, top_k=1)
    with torch.no_grad():
        moe.gate.weight.copy_(torch.eye(2))
    # logits = x: softmax([a, 0]) for tokens (ln 3, 0) -> (0.75, 0.25), (0, ln 3) -> (0.25, 0.75)
    l3 = torch.log(torch.tensor(3.0))
    x = torch.stack(
        [torch.stack([l3, torch.tensor(0.0)])] * 3 + [torch.stack([torch.tensor(0.0), l3])]
    )
    _, loss, counts = moe(x)
    # f = (3/4, 1/4); P = ((3*.75 + .25)/4, (3*.25 + .75)/4) = (0.625, 0.375)
    expected = 2 * (0.75 * 0.625 + 0.25 * 0.375)
    assert counts.tolist() == [3, 1]
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    moe.record(loss, counts)
    assert moe.expert_load().tolist() == pytest.approx([0.75, 0.25])
    assert moe.aux_loss().item() == pytest.approx(expected, rel=1e-6)


def test_switch_balance_loss_can_be_below_one():
    """The Switch loss is not bounded below by 1: 3 of 5 tokens go to expert 0 with
    probability 0.6, the other 2 to expert 1 with probability 0.9, so f = (3/5, 2/5),
    P = ((3 * 0.6 + 2 * 0.1) / 5, (3 * 0.4 + 2 * 0.9) / 5) = (2/5, 3/5) and
    loss = 2 * (3/5 * 2/5 + 2/5 * 3/5) = 24/25."""
    moe = MixtureOfExperts(2, 4, num_experts=2, top_k=1)
    with torch.no_grad():
        moe.gate.weight.copy_(torch.eye(2))
    # logits = x: softmax([ln 1.5, 0]) = (0.6, 0.4), softmax([0, ln 9]) = (0.1, 0.9)
    a, b = torch.log(torch.tensor(1.5)), torch.log(torch.tensor(9.0))
    zero = torch.tensor(0.0)
    x = torch.stack([torch.stack([a, zero])] * 3 + [torch.stack([zero, b])] * 2)
    _, loss, counts = moe(x)
    assert counts.tolist() == [3, 2]
    assert loss.item() == pytest.approx(24 / 25, rel=1e-6)


def test_balance_loss_bounds():
    """0 <= loss <= M: sum_i f_i P_i <= max_i P_i <= 1 (f sums to 1)."""
    torch.manual_seed(0)
    moe = MixtureOfExperts(8, 16, num_experts=4, top_k=1)
    with torch.no_grad():
        moe.gate.weight.mul_(200.0)  # nearly one-hot gates: the loss nears its extremes
    for x in (torch.randn(64, 8), torch.ones(64, 8)):
        _, loss, _ = moe(x)
        assert 0.0 <= loss.item() <= 4.0 + 1e-6


def test_balance_loss_is_one_when_uniform():
    moe = MixtureOfExperts(4, 8, num_experts=4, top_k=1)
    with torch.no_grad():
        moe.gate.weight.zero_()  # uniform probabilities; ties go to one expert
    _, loss, _ = moe(torch.randn(10, 4))
    # f = (1, 0, 0, 0), P = 1/4 each -> 4 * 1/4 = 1
    assert loss.item() == pytest.approx(1.0)


def test_stats_reset_and_accumulate():
    moe = MixtureOfExperts(4, 8, num_experts=2)
    for _ in range(2):
        _, loss, counts = moe(torch.randn(5, 4))
        moe.record(loss, counts)
    assert len(moe._records) == 2
    assert moe.expert_load().sum().item() == pytest.approx(1.0)
    moe.reset_stats()
    assert moe.aux_loss().item() == 0
    assert moe.expert_load().tolist() == [0.0, 0.0]


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='top_k'):
        MixtureOfExperts(8, 16, num_experts=2, top_k=3)
    moe = MixtureOfExperts(8, 16, num_experts=2)
    with pytest.raises(ValueError, match='embed_dims'):
        moe(torch.randn(4, 7))


def test_deepcopy_after_forward_drops_the_graph_records():
    import copy

    moe = MixtureOfExperts(4, 8, num_experts=2)
    _, loss, counts = moe(torch.randn(6, 4, requires_grad=True))
    moe.record(loss, counts)
    twin = copy.deepcopy(moe)  # would fail on non-leaf tensors with a grad_fn
    assert twin._records == [] and len(moe._records) == 1
    assert torch.equal(twin.gate.weight, moe.gate.weight)


def _spread(moe: MixtureOfExperts, seed: int = 0) -> MixtureOfExperts:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in moe.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (1.0 if p is moe.gate.weight else 0.3))
        # expert 3 never wins on inputs whose first feature is positive: an idle expert
        moe.gate.weight[3] = 0.0
        moe.gate.weight[3, 0] = -20.0
    return moe


def _tokens(*shape: int, seed: int) -> torch.Tensor:
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    x[..., 0] = x[..., 0].abs() + 1.0
    return x


def _fwd_bwd(moe: MixtureOfExperts, x: torch.Tensor):
    x = x.clone().requires_grad_(True)
    out, loss, counts = moe(x)
    # a gradient with zero strides (that of a sum) is the grouped product's backward trap
    (out.sum() + out.square().mean() + loss).backward()
    grads = {n: p.grad.clone() for n, p in moe.named_parameters()}
    return out.detach(), counts, x.grad, grads


@pytest.mark.skipif(
    not grouped_mm_available(torch.device('cpu'), torch.float32),
    reason='this torch build has no grouped matrix product on CPU',
)
@pytest.mark.parametrize('top_k', [1, 2])
def test_grouped_product_equals_the_loop_values_and_gradients(top_k):
    """The two dispatches compute one function: outputs, input gradient and every parameter
    gradient agree to float32 rounding (idle expert included), and both equal the reference
    that runs every expert on every token."""
    grouped = _spread(MixtureOfExperts(16, 32, num_experts=4, top_k=top_k, dispatch='grouped'))
    loop = _spread(MixtureOfExperts(16, 32, num_experts=4, top_k=top_k, dispatch='loop'))
    x = _tokens(2, 75, 16, seed=1)
    assert grouped.use_grouped_mm(x) and not loop.use_grouped_mm(x)
    out_g, counts_g, gx_g, grads_g = _fwd_bwd(grouped, x)
    out_l, counts_l, gx_l, grads_l = _fwd_bwd(loop, x)
    assert torch.equal(counts_g, counts_l) and counts_g[3] == 0 and (counts_g > 0).sum() >= 2
    torch.testing.assert_close(out_g, out_l, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx_g, gx_l, rtol=1e-5, atol=1e-6)
    for name in grads_l:
        torch.testing.assert_close(grads_g[name], grads_l[name], rtol=1e-5, atol=1e-6, msg=name)
    assert torch.equal(grads_g['experts.fc1.weight'][3], torch.zeros(32, 16))
    ref = loop_over_experts(loop, x.reshape(-1, 16)).view_as(x)
    torch.testing.assert_close(out_g, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(
    not grouped_mm_available(torch.device('cpu'), torch.bfloat16),
    reason='this torch build has no bf16 grouped matrix product on CPU',
)
def test_grouped_product_under_bf16_autocast_matches_the_loop():
    grouped = _spread(MixtureOfExperts(16, 32, num_experts=4, dispatch='grouped'))
    loop = _spread(MixtureOfExperts(16, 32, num_experts=4, dispatch='loop'))
    x = _tokens(150, 16, seed=2)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out_g, _, _ = grouped(x)
        out_l, _, _ = loop(x)
    assert out_g.dtype == out_l.dtype == torch.bfloat16
    ref = loop_over_experts(loop, x)
    err = lambda a: ((a.float() - ref).norm() / ref.norm()).item()  # noqa: E731
    assert err(out_g) < 2e-2 and err(out_l) < 2e-2
    torch.testing.assert_close(out_g.float(), out_l.float(), rtol=2e-2, atol=2e-2)


def test_unaligned_widths_fall_back_to_the_loop():
    moe = MixtureOfExperts(6, 12, num_experts=2)  # rows of 24 / 48 bytes in float32
    assert not moe.use_grouped_mm(torch.randn(3, 6))
    with pytest.raises(RuntimeError, match='16-byte'):
        MixtureOfExperts(6, 12, num_experts=2, dispatch='grouped').use_grouped_mm(torch.randn(3, 6))


def test_per_expert_checkpoint_loads_into_the_stacked_experts():
    """A state dict of the layout before the stacking (one FeedForward per expert), converted by
    stack_expert_weights, loads strictly and gives the output of those experts."""
    torch.manual_seed(0)
    experts = [FeedForward(8, 16) for _ in range(3)]
    gate = torch.randn(3, 8)
    old = {'gate.weight': gate}
    for e, ffn in enumerate(experts):
        old.update({f'experts.{e}.{k}': v for k, v in ffn.state_dict().items()})
    moe = MixtureOfExperts(8, 16, num_experts=3)
    assert stack_expert_weights(old, '', 3) == ['']
    moe.load_state_dict(old, strict=True)
    x = torch.randn(30, 8)
    out, _, _ = moe(x)
    probs = F.softmax(x @ gate.t(), -1)
    best = probs.argmax(-1)
    ref = torch.stack([probs[i, best[i]] * experts[best[i]](x[i]) for i in range(30)])
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


def test_stack_expert_weights_finds_every_moe_and_checks_the_experts():
    sd = {
        f'stages.{s}.blocks.0.ffn.experts.{e}.fc1.weight': torch.full((4, 2), float(e))
        for s in (2, 3)
        for e in range(2)
    }
    sd['stages.2.blocks.0.ffn.gate.weight'] = torch.zeros(2, 2)
    done = stack_expert_weights(sd)
    assert sorted(done) == ['stages.2.blocks.0.ffn.', 'stages.3.blocks.0.ffn.']
    stacked = sd['stages.3.blocks.0.ffn.experts.fc1.weight']
    assert stacked.shape == (2, 4, 2) and stacked[1].eq(1).all() and stacked[0].eq(0).all()
    assert 'stages.2.blocks.0.ffn.gate.weight' in sd
    bad = {'ffn.experts.0.fc1.weight': torch.zeros(1), 'ffn.experts.2.fc1.weight': torch.zeros(1)}
    with pytest.raises(KeyError, match='expected 0..1'):
        stack_expert_weights(bad)


def test_first_call_inside_an_activation_checkpoint(monkeypatch):
    """The grouped product's support is probed at the first call; when that call is inside an
    activation checkpoint (the recipe's with_cp), the probe's saved tensors must not join the
    checkpoint's, or its recomputation finds fewer tensors than the forward saved (issue 29:
    found by tools/analysis_tools/pretrain_plan.py on the huge recipe)."""
    from torch.utils.checkpoint import checkpoint

    from mmskysense.models.layers import mixture_of_experts

    moe = _spread(MixtureOfExperts(16, 32, num_experts=4))
    x = _tokens(64, 16, seed=4).requires_grad_(True)
    ref = moe(x)[0].square().sum()
    grads = torch.autograd.grad(ref, [x, moe.experts.fc1.weight])
    monkeypatch.setattr(mixture_of_experts, '_GROUPED_MM_SUPPORT', {})  # a fresh process
    out = checkpoint(lambda t: moe(t)[0], x, use_reentrant=False).square().sum()
    again = torch.autograd.grad(out, [x, moe.experts.fc1.weight])
    assert mixture_of_experts._GROUPED_MM_SUPPORT  # probed inside the checkpoint
    for a, b in zip(again, grads):
        torch.testing.assert_close(a, b)


def switch_loss_reference(moe: MixtureOfExperts, x: torch.Tensor) -> torch.Tensor:
    """M * sum_i f_i P_i of one call on the rows ``x``, written out."""
    probs = F.softmax(x @ moe.gate.weight.t(), dim=-1)
    idx = probs.topk(moe.top_k, dim=-1).indices.reshape(-1)
    frac = torch.bincount(idx, minlength=moe.num_experts).float() / idx.numel()
    return moe.num_experts * (frac * probs.mean(0)).sum()


@pytest.mark.parametrize('dispatch', ['auto', 'loop'])
@pytest.mark.parametrize('top_k', [1, 2])
def test_a_list_of_tensors_is_one_forward_each_with_one_dispatch(dispatch, top_k):
    """The tokens of several calls (e.g. modalities) in one dispatch: each tensor's output,
    balance loss and counts, and every gradient, are those of its own call (the references
    run each tensor alone, written out)."""
    torch.manual_seed(0)
    moe = MixtureOfExperts(16, 32, num_experts=4, top_k=top_k, dispatch=dispatch)
    with torch.no_grad():
        moe.gate.weight.normal_(0, 1.0)  # spread the routing over the experts
        moe.experts.fc1.bias.normal_()
        moe.experts.fc2.bias.normal_()
    xs = [torch.randn(2, 9, 16), torch.randn(5, 16), torch.randn(1, 3, 4, 16)]
    xs = [x.requires_grad_(True) for x in xs]
    outs = moe(xs)
    assert len(outs) == len(xs)
    total = 0
    for x, (y, loss, counts) in zip(xs, outs, strict=True):
        rows = x.detach().reshape(-1, 16)
        torch.testing.assert_close(y, loop_over_experts(moe, rows).view_as(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(loss, switch_loss_reference(moe, rows), rtol=1e-5, atol=1e-6)
        idx = (rows @ moe.gate.weight.t()).topk(top_k, dim=-1).indices.reshape(-1)
        assert counts.tolist() == torch.bincount(idx, minlength=4).tolist()
        total = total + y.square().sum() + loss
    total.backward()
    got = [x.grad.clone() for x in xs] + [p.grad.clone() for p in moe.parameters()]
    for x in xs:
        x.grad = None
    moe.zero_grad()
    ref = sum(
        loop_over_experts(moe, x.reshape(-1, 16)).square().sum()
        + switch_loss_reference(moe, x.reshape(-1, 16))
        for x in xs
    )
    ref.backward()
    want = [x.grad for x in xs] + [p.grad for p in moe.parameters()]
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
