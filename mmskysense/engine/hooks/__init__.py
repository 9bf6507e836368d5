from .input_contract_hook import InputContractHook
from .knn_eval_hook import KNNEvalHook
from .teacher_momentum_hook import TeacherMomentumHook, cosine_momentum
from .teacher_temperature_hook import TeacherTemperatureHook, teacher_temperature

__all__ = [
    'InputContractHook',
    'KNNEvalHook',
    'TeacherMomentumHook',
    'TeacherTemperatureHook',
    'cosine_momentum',
    'teacher_temperature',
]
