"""mmskysense's registries: children of mmengine's root registries.

Each registry knows where its modules live (``locations``) and imports them the first time it is
asked for one, so ``import mmskysense`` stays cheap and a config only pays for what it uses.

Cross-library use (see docs/registry.md):

* from our configs (``default_scope='mmskysense'``), other libraries' modules are reached by
  scope: ``type='mmseg.UPerHead'``, ``type='mmdet.FPN'``, ``type='mmrotate.RotatedRPNHead'``;
* from another library's config, ours are reached the same way:
  ``type='mmskysense.SkySenseV2Backbone'``.
  mmengine resolves an unknown scope by importing ``<scope>.registry``, which is this module, and
  the registry's ``locations`` then import the module that registers the class.
"""

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import STRATEGIES as MMENGINE_STRATEGIES
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = [
    'RUNNERS',
    'RUNNER_CONSTRUCTORS',
    'STRATEGIES',
    'LOOPS',
    'HOOKS',
    'LOG_PROCESSORS',
    'OPTIMIZERS',
    'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS',
    'DATASETS',
    'DATA_SAMPLERS',
    'TRANSFORMS',
    'MODELS',
    'MODEL_WRAPPERS',
    'WEIGHT_INITIALIZERS',
    'TASK_UTILS',
    'METRICS',
    'EVALUATOR',
    'VISUALIZERS',
    'VISBACKENDS',
]

# Runner pieces
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, locations=['mmskysense.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMENGINE_RUNNER_CONSTRUCTORS, locations=['mmskysense.engine']
)
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['mmskysense.engine'])
# FlexibleRunner builds its strategy before it sets the default scope: name ours with the
# scope, `strategy=dict(type='mmskysense.FSDP2Strategy')`
STRATEGIES = Registry('strategy', parent=MMENGINE_STRATEGIES, locations=['mmskysense.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=['mmskysense.engine'])
LOG_PROCESSORS = Registry(
    'log processor', parent=MMENGINE_LOG_PROCESSORS, locations=['mmskysense.engine']
)
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, locations=['mmskysense.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, locations=['mmskysense.engine']
)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmskysense.engine'],
)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, locations=['mmskysense.engine']
)

# Data
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, locations=['mmskysense.datasets.registered']
)
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, locations=['mmskysense.datasets.registered']
)
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, locations=['mmskysense.datasets.registered']
)

# Models
MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['mmskysense.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=['mmskysense.models']
)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, locations=['mmskysense.models']
)
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS, locations=['mmskysense.models'])

# Evaluation and visualisation
METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=['mmskysense.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR, locations=['mmskysense.evaluation'])
VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS, locations=['mmskysense.visualization']
)
VISBACKENDS = Registry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, locations=['mmskysense.visualization']
)
