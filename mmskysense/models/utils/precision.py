"""Float32 regions inside a bf16 step."""

import contextlib

import torch
from torch import Tensor


def float32_region(like: Tensor):
    """A context where autocast is off on ``like``'s device, so that operands made float32 stay
    float32: the losses' cosine similarities, whose Sinkhorn-Knopp plans and softmaxes divide
    them by small temperatures (0.05: a bf16 rounding of a cosine would move a logit by ~0.1).
    Outside autocast (e.g. FSDP2's bf16 parameters, where the losses upcast) it changes nothing.
    """
    device = like.device.type
    if not torch.amp.is_autocast_available(device):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device, enabled=False)
