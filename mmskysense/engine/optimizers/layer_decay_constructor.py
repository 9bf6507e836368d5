"""Layer-wise learning-rate decay (LLRD) for fine-tuning, driven by ``backbone.get_layer_depth``.

Every parameter of the model is given to ``backbone.get_layer_depth(name, prefix)``, which
returns ``(d, D)``: 0 for the tokenizers, growing with the blocks, ``D - 1`` for the task head
(the backbone decides where necks and norms sit). The parameter gets ``lr * rate ** (D - 1 - d)``:
layers nearest the input, which carry the most general pretrained features, move least, and
the head keeps the base rate. Norm weights, biases, 1-D parameters and the backbone's
``no_weight_decay()`` names get no weight decay.
"""

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor

from mmskysense.registry import OPTIM_WRAPPER_CONSTRUCTORS


def _is_no_decay(name: str, param: nn.Parameter, no_decay_names: set[str]) -> bool:
    if param.ndim <= 1 or name.endswith('.bias'):
        return True
    parts = name.split('.')
    # no_weight_decay() may list full names or the last components (e.g. 'prompt_tokens')
    return name in no_decay_names or any(p in no_decay_names for p in parts)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Builds parameter groups with layer-wise decayed learning rates.

    ``paramwise_cfg`` keys:

    * ``layer_decay_rate`` (float, required): the per-depth decay (e.g. 0.9).
    * ``backbone_prefix`` (str): name prefix of backbone parameters (default ``'backbone.'``).

    Example::

        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
            constructor='LayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.9))
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        if 'layer_decay_rate' not in paramwise_cfg:
            raise KeyError('LayerDecayOptimWrapperConstructor needs paramwise_cfg.layer_decay_rate')
        self.layer_decay_rate = float(paramwise_cfg.pop('layer_decay_rate'))
        self.backbone_prefix = paramwise_cfg.pop('backbone_prefix', 'backbone.')
        if paramwise_cfg:
            raise KeyError(
                f'unsupported paramwise_cfg keys for layer decay: {sorted(paramwise_cfg)}'
            )
        super().__init__(optim_wrapper_cfg, None)
        # the parent skips add_params without a paramwise_cfg; ours always groups parameters
        self.paramwise_cfg = dict(layer_decay_rate=self.layer_decay_rate)

    def _backbone(self, module: nn.Module) -> nn.Module:
        owner = module
        for part in self.backbone_prefix.rstrip('.').split('.'):
            owner = getattr(owner, part, None)
            if owner is None:
                raise AttributeError(f'model has no submodule {self.backbone_prefix.rstrip(".")!r}')
        if not hasattr(owner, 'get_layer_depth'):
            raise AttributeError(
                f'{type(owner).__name__} has no get_layer_depth(); layer-wise lr decay needs one'
            )
        return owner

    def param_scale_and_decay(self, module: nn.Module) -> dict[str, tuple[float, float]]:
        """``name -> (lr scale, weight decay)`` for every trainable parameter of ``module``."""
        backbone = self._backbone(module)
        no_decay: set[str] = set(getattr(backbone, 'no_weight_decay', lambda: set())())
        out = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            depth, num_depths = backbone.get_layer_depth(name, prefix=self.backbone_prefix)
            if not 0 <= depth < num_depths:
                raise ValueError(
                    f'get_layer_depth({name!r}) gave {depth} outside [0, {num_depths})'
                )
            scale = self.layer_decay_rate ** (num_depths - 1 - depth)
            local = (
                name[len(self.backbone_prefix) :] if name.startswith(self.backbone_prefix) else name
            )
            wd = 0.0 if _is_no_decay(local, param, no_decay) else self.base_wd
            out[name] = (scale, wd)
        return out

    def add_params(self, params: list[dict], module: nn.Module, **kwargs) -> None:
        if self.base_wd is None:
            self.base_wd = 0.0
        groups: dict[tuple[float, float], dict] = {}
        named = dict(module.named_parameters())
        for name, (scale, wd) in self.param_scale_and_decay(module).items():
            group = groups.setdefault(
                (scale, wd),
                dict(params=[], lr=self.base_lr * scale, weight_decay=wd, lr_scale=scale),
            )
            group['params'].append(named[name])
        params.extend(groups[k] for k in sorted(groups))
