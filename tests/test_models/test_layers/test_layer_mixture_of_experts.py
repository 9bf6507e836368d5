"""MixtureOfExperts (eq. 2): dispatch, gradients, Switch balance loss, load (upcycling of
dense checkpoints is a rule of checkpoint_filter_fn: tests/test_models/test_backbones)."""

import pytest
import torch
import torch.nn.functional as F

from mmskysense.models.layers import MixtureOfExperts


def loop_over_experts(moe: MixtureOfExperts, x: torch.Tensor) -> torch.Tensor:
    """Reference: every expert on every token, kept where the expert is in the token's top-k."""
    probs = F.softmax(x @ moe.gate.weight.t(), dim=-1)
    vals, idx = probs.topk(moe.top_k, dim=-1)
    out = torch.zeros_like(x)
    for e in range(moe.num_experts):
        fc1, fc2 = moe.experts[e].fc1, moe.experts[e].fc2
        y = F.gelu(x @ fc1.weight.t() + fc1.bias) @ fc2.weight.t() + fc2.bias
        weight = (vals * (idx == e)).sum(-1, keepdim=True)
        out = out + weight * y
    return out


@pytest.mark.parametrize('top_k', [1, 2])
def test_vectorised_dispatch_equals_loop_over_experts(top_k):
    torch.manual_seed(0)
    moe = MixtureOfExperts(16, 32, num_experts=4, top_k=top_k)
    with torch.no_grad():
        moe.gate.weight.normal_(0, 1.0)  # spread the routing over the experts
        for expert in moe.experts:
            expert.fc1.bias.normal_()
            expert.fc2.bias.normal_()
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
    for e, expert in enumerate(moe.experts):
        assert expert.fc1.weight.grad is not None
        assert bool(expert.fc1.weight.grad.abs().sum() > 0) == bool(counts[e] > 0)


def test_idle_experts_get_zero_gradients():
    moe = MixtureOfExperts(8, 16, num_experts=4, top_k=1)
    with torch.no_grad():
        moe.gate.weight.zero_()
        moe.gate.weight[2] = 1.0  # every positive-sum token goes to expert 2
    x = torch.rand(10, 8)
    out, _, counts = moe(x)
    assert counts.tolist() == [0, 0, 10, 0]
    out.sum().backward()
    for e in (0, 1, 3):
        grad = moe.experts[e].fc2.weight.grad
        assert grad is not None and torch.equal(grad, torch.zeros_like(grad))
    assert moe.experts[2].fc2.weight.grad.abs().sum() > 0


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
