from .cpu_distributed import init_cpu_distributed, needs_cpu_distributed  # noqa: F401
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .strategies import *  # noqa: F401,F403
