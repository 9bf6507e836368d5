"""bf16 autocast without loss scaling, for the pretraining on GPUs (and on CPUs).

mmengine's ``AmpOptimWrapper`` pairs autocast with a ``GradScaler`` whatever the dtype, and
refuses CPUs. bf16 has float32's exponent range, so it needs no loss scaling, and the scaler
costs a host read of its inf/NaN flags at every step (a device synchronisation). This wrapper is
``OptimWrapper`` with the forward (``optim_context``) under ``torch.autocast``.
"""

from contextlib import contextmanager

import torch
from mmengine.device import get_device
from mmengine.optim import OptimWrapper

from mmskysense.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under ``torch.autocast(device, dtype)``.

    Args:
        dtype: ``'bfloat16'``, or None for no autocast (e.g. under ``FSDP2Strategy``, whose
            mixed-precision policy already computes in bf16). float16 needs loss scaling: use
            mmengine's ``AmpOptimWrapper`` for it.
        **kwargs: ``OptimWrapper``'s (``optimizer``, ``clip_grad``, ``accumulative_counts``).
    """

    def __init__(self, dtype: str | torch.dtype | None = 'bfloat16', **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, None) if dtype == 'bfloat16' else dtype
        if dtype not in (None, torch.bfloat16):
            raise ValueError(
                f'AutocastOptimWrapper: `dtype` must be "bfloat16" or None, got {dtype!r} '
                '(float16 needs loss scaling: AmpOptimWrapper)'
            )
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model):
            if self.cast_dtype is None:
                yield
            else:
                with torch.autocast(device_type=get_device(), dtype=self.cast_dtype):
                    yield
