"""AdaptivePatchMerging: HR 2x2 merge (Unfold order), MS/SAR averaged-weight projection."""

import pytest
import torch
import torch.nn.functional as F

from mmskysense.models.layers import AdaptivePatchMerging


def make_apm(c: int = 6, out: int = 12) -> AdaptivePatchMerging:
    torch.manual_seed(0)
    apm = AdaptivePatchMerging(c, out)
    with torch.no_grad():
        apm.norm.weight.normal_(1, 0.3)
        apm.norm.bias.normal_(0, 0.3)
    return apm


def test_hr_merge_matches_unfold_order():
    apm = make_apm()
    x = torch.randn(2, 6, 8, 10)  # B, C, H, W
    tokens = x.flatten(2).transpose(1, 2)
    out, hw = apm(tokens, (8, 10), 'hr')
    assert hw == (4, 5) and out.shape == (2, 20, 12)
    # nn.Unfold(2, stride=2): channel-major 4c vectors, as mmpretrain's PatchMerging.
    merged = F.unfold(x, kernel_size=2, stride=2).transpose(1, 2)
    ref = F.layer_norm(merged @ apm.reduction.weight.t(), (12,), apm.norm.weight, apm.norm.bias)
    torch.testing.assert_close(out, ref)


def test_hr_merge_pads_odd_maps():
    apm = make_apm()
    x = torch.randn(1, 6, 5, 7)
    out, hw = apm(x.flatten(2).transpose(1, 2), (5, 7), 'hr')
    assert hw == (3, 4)
    merged = F.unfold(F.pad(x, (0, 1, 0, 1)), kernel_size=2, stride=2).transpose(1, 2)
    ref = apm.norm(merged @ apm.reduction.weight.t())
    torch.testing.assert_close(out, ref)


def test_ms_projection_equals_averaged_merge_weights():
    apm = make_apm()
    w = apm.reduction.weight  # out x 4c, column 4c + p
    expected = torch.stack([w[:, 4 * c : 4 * c + 4].mean(1) for c in range(6)], 1)
    torch.testing.assert_close(apm.ms_weight(), expected)
    x = torch.randn(2, 15, 6)
    out, hw = apm(x, (3, 5), 'ms')
    assert hw == (3, 5) and out.shape == (2, 15, 12)
    torch.testing.assert_close(out, apm.norm(x @ expected.t()))


def test_ms_branch_equals_hr_branch_on_constant_2x2_blocks():
    """For a map constant over each 2x2 block, W_hr x_concat = 4 W_ms x; the post-norm removes
    the factor 4 (up to LayerNorm's eps), so both branches give the same tokens."""
    apm = make_apm()
    coarse = torch.randn(1, 6, 3, 4)
    fine = coarse.repeat_interleave(2, 2).repeat_interleave(2, 3)  # constant in 2x2
    hr, _ = apm(fine.flatten(2).transpose(1, 2), (6, 8), 'hr')
    ms, _ = apm(coarse.flatten(2).transpose(1, 2), (3, 4), 'ms')
    torch.testing.assert_close(hr, ms, rtol=1e-3, atol=1e-3)
    raw_hr = F.unfold(fine, 2, stride=2).transpose(1, 2) @ apm.reduction.weight.t()
    raw_ms = coarse.flatten(2).transpose(1, 2) @ apm.ms_weight().t()
    torch.testing.assert_close(raw_hr, 4 * raw_ms, rtol=1e-5, atol=1e-5)


def test_bad_inputs_raise():
    apm = make_apm()
    with pytest.raises(ValueError, match='kind'):
        apm(torch.randn(1, 4, 6), (2, 2), 'sar')
    with pytest.raises(ValueError, match='hw_shape'):
        apm(torch.randn(1, 5, 6), (2, 2), 'hr')
    with pytest.raises(ValueError, match='6'):
        apm(torch.randn(1, 4, 7), (2, 2), 'ms')
