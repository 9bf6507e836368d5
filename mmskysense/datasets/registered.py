"""Every dataset, sampler and transform of mmskysense, registered by importing this module (the
datasets registries' location, ``mmskysense.registry``; ``register_all_modules``)."""

from .change_detection import *  # noqa: F401,F403
from .downstream import *  # noqa: F401,F403
from .geo import *  # noqa: F401,F403
from .image_folder import ImageFolderPretrainDataset, list_images  # noqa: F401
from .image_split import load_image_split, make_image_split  # noqa: F401
from .transforms import *  # noqa: F401,F403
