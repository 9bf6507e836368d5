"""Teacher momentum schedule and EMA update (paper section 3.2: the teacher is the EMA of the
student [42]).

After every optimiser step the teacher becomes ``m * teacher + (1 - m) * student`` with m
following DINO's cosine schedule from ``base_momentum`` to ``end_momentum`` over training.
The schedule is a function of the iteration only, so a resumed run continues it exactly.
"""

import math

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmskysense.registry import HOOKS


def cosine_momentum(
    cur_iter: int, max_iters: int, base_momentum: float, end_momentum: float = 1.0
) -> float:
    """DINO's teacher momentum: ``end - (end - base) * (cos(pi * it / max) + 1) / 2``."""
    if max_iters <= 0:
        raise ValueError(f'cosine_momentum: `max_iters` must be positive, got {max_iters}')
    progress = min(max(cur_iter / max_iters, 0.0), 1.0)
    return end_momentum - (end_momentum - base_momentum) * (math.cos(math.pi * progress) + 1) / 2


@HOOKS.register_module()
class TeacherMomentumHook(Hook):
    """Updates the EMA teacher after each training iteration with the scheduled momentum.

    Args:
        base_momentum: momentum at iteration 0.
        end_momentum: momentum at the last iteration.
    """

    priority = 'ABOVE_NORMAL'  # before checkpointing and logging see the iteration's state

    def __init__(self, base_momentum: float = 0.996, end_momentum: float = 1.0) -> None:
        for name, value in (('base_momentum', base_momentum), ('end_momentum', end_momentum)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'TeacherMomentumHook: `{name}` must be in [0, 1], got {value}')
        self.base_momentum = base_momentum
        self.end_momentum = end_momentum

    def after_train_iter(
        self, runner, batch_idx: int, data_batch: dict | None = None, outputs: dict | None = None
    ) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'update_teacher'):
            raise AttributeError(
                f'TeacherMomentumHook: {type(model).__name__} has no `update_teacher(momentum)`'
            )
        # runner.iter is the index of the iteration that just ran
        m = cosine_momentum(runner.iter, runner.max_iters, self.base_momentum, self.end_momentum)
        model.update_teacher(m)
        runner.message_hub.update_scalar('train/teacher_momentum', m)
