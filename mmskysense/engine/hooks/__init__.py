from .teacher_momentum_hook import TeacherMomentumHook, cosine_momentum
from .teacher_temperature_hook import TeacherTemperatureHook, teacher_temperature

__all__ = [
    'TeacherMomentumHook',
    'TeacherTemperatureHook',
    'cosine_momentum',
    'teacher_temperature',
]
