# Importing a subpackage registers its datasets and transforms into mmskysense.registry.
from .change_detection import *  # noqa: F401,F403
from .downstream import *  # noqa: F401,F403
from .geo import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
