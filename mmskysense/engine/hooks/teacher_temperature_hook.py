"""Teacher temperature schedule of the teacher/student cross-entropy (eq. 4, DINO [6]).

DINO warms the teacher temperature up linearly from ``start`` to ``end`` over ``warmup_iters``
and keeps it at ``end`` afterwards: a sharp teacher early on stabilises the start of training.
"""

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmskysense.registry import HOOKS


def teacher_temperature(cur_iter: int, start: float, end: float, warmup_iters: int) -> float:
    """Linear warm-up from ``start`` to ``end`` over ``warmup_iters``, then ``end``."""
    if warmup_iters <= 0 or cur_iter >= warmup_iters:
        return end
    return start + (end - start) * cur_iter / warmup_iters


@HOOKS.register_module()
class TeacherTemperatureHook(Hook):
    """Sets ``model.teacher_temp`` before each training iteration.

    Args:
        start: teacher temperature at iteration 0.
        end: teacher temperature after warm-up.
        warmup_iters: length of the linear warm-up.
    """

    priority = 'NORMAL'

    def __init__(self, start: float = 0.04, end: float = 0.07, warmup_iters: int = 0) -> None:
        for name, value in (('start', start), ('end', end)):
            if value <= 0:
                raise ValueError(f'TeacherTemperatureHook: `{name}` must be positive, got {value}')
        if warmup_iters < 0:
            raise ValueError(
                f'TeacherTemperatureHook: `warmup_iters` must be >= 0, got {warmup_iters}'
            )
        self.start, self.end, self.warmup_iters = start, end, warmup_iters

    def before_train_iter(self, runner, batch_idx: int, data_batch: dict | None = None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'teacher_temp'):
            raise AttributeError(
                f'TeacherTemperatureHook: {type(model).__name__} has no `teacher_temp`'
            )
        model.teacher_temp = teacher_temperature(
            runner.iter, self.start, self.end, self.warmup_iters
        )
