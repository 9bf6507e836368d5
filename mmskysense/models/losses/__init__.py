from .gcpl import GCPLLoss
from .ita import ITALoss, downsample_labels, load_text_embeddings
from .mgcl import MGCLLoss
from .qsacl import QSACLLoss
from .sinkhorn_knopp import sinkhorn_knopp
from .teacher_student_ce import TeacherCentering, teacher_probs, teacher_student_cross_entropy

__all__ = [
    'GCPLLoss',
    'ITALoss',
    'MGCLLoss',
    'QSACLLoss',
    'TeacherCentering',
    'sinkhorn_knopp',
    'teacher_probs',
    'teacher_student_cross_entropy',
    'downsample_labels',
    'load_text_embeddings',
]
