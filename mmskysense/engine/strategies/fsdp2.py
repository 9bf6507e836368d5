"""Sharded data parallelism for the pretraining: torch's FSDP2 (``fully_shard``) behind an
mmengine strategy, for ``FlexibleRunner`` (docs/sharded_pretraining.md says why this one).

* Every module whose class is named in ``shard_units`` (the transformer blocks, tokenizers,
  fusion layers, query aggregation and DINO heads) becomes one FSDP unit, innermost first, and
  the model the root unit. The student and its EMA teacher contain the same classes in the same
  structure, so they are sharded alike: each parameter of either is split along its first
  dimension over the ranks, and a student shard and its teacher shard hold the same elements.
  ``SkySenseV2.update_teacher`` then updates the local shards, without communication.
* Mixed precision: parameters are all-gathered and computed in ``param_dtype`` (bf16), the
  gradients reduce-scattered in ``reduce_dtype`` (fp32) into fp32 shards, which the optimiser
  updates. The units cast their floating inputs; the root does not (the batch's ground boxes are
  float64 and must stay so). The losses compute in fp32 (they upcast).
* Activation checkpointing per block is the backbone's own (``with_cp=True`` in the recipe):
  each block recomputes its forward inside its unit during backward.
* All ranks start from rank 0's initialisation (broadcast before sharding), as DDP does.
* Checkpoints (``state_dict_type``): ``'sharded'`` (default) writes a directory named like the
  checkpoint file (``iter_N.pth/``) with ``torch.distributed.checkpoint`` (every rank writes its
  shards; any world size can resume from it) and ``extra.pth`` (meta, message hub, parameter
  schedulers); ``'full'`` gathers the full state dict to rank 0 and writes one mmengine
  checkpoint file with the DDP run's keys (it loads into a single-process model as it is).
  :func:`convert_sharded_checkpoint` (``tools/model_converters/sharded_to_full.py``,
  ``sharded_checkpoint.py``) turns a sharded directory into such a file offline, without
  processes or GPUs, holding at most a memory budget of its tensors at once.
"""

import itertools
import os
import os.path as osp
import time
from collections.abc import Callable, Sequence

import mmengine
import torch
import torch.distributed as torch_dist
from mmengine._strategy import DDPStrategy
from mmengine.device import get_device
from mmengine.dist import is_main_process
from mmengine.optim import AmpOptimWrapper
from mmengine.utils import get_git_hash
from torch import nn

from mmskysense.registry import STRATEGIES

from .sharded_checkpoint import EXTRA_FILE, is_sharded_checkpoint

#: module classes (by name) sharded as one unit each; the rest of the model is the root unit
DEFAULT_UNITS = (
    'SwinV2Block',
    'GlobalTransformerBlock',
    'ModalityTokenizer',
    'TransformerEncoderLayer',
    'QueryAggregation',
    'DINOHead',
)

_DTYPES = dict(bfloat16=torch.bfloat16, float16=torch.float16, float32=torch.float32)


def _dtype(name: str | torch.dtype | None, what: str) -> torch.dtype | None:
    if name is None or isinstance(name, torch.dtype):
        return name
    if name not in _DTYPES:
        raise ValueError(f'FSDP2Strategy: `{what}` must be one of {sorted(_DTYPES)} or None')
    return _DTYPES[name]


def shard_dim(shape: Sequence[int], world_size: int) -> int:
    """The dimension a parameter is split along: the one whose padding to a multiple of
    ``world_size`` wastes least, dim 0 on ties (FSDP2's default). The MoE's stacked experts
    (``E x hidden x C``, E = 8) split along dim 0 over 128 ranks would be padded to 128 rows,
    16 times the weights in every gathered copy and gradient (measured by
    tools/analysis_tools/pretrain_plan.py); along ``hidden`` they are not padded."""
    if not shape:
        return 0
    padded = [-(-n // world_size) * world_size / max(n, 1) for n in shape]
    return min(range(len(shape)), key=lambda d: (padded[d], d))


@STRATEGIES.register_module()
class FSDP2Strategy(DDPStrategy):
    """FSDP2 (``torch.distributed.fsdp.fully_shard``) for ``FlexibleRunner``.

    Args:
        shard_units: class names of the modules that become one FSDP unit each.
        param_dtype: dtype of the gathered parameters in forward and backward (None: fp32).
        reduce_dtype: dtype of the gradient reduction (None: ``param_dtype``).
        reshard_after_forward: free a unit's gathered parameters after its forward (and gather
            them again for backward); False keeps them until backward (more memory, fewer
            all-gathers).
        state_dict_type: ``'sharded'`` or ``'full'`` (module docstring).
        **kwargs: ``DDPStrategy``'s (``model_wrapper`` is not used).
    """

    def __init__(
        self,
        *,
        shard_units: Sequence[str] = DEFAULT_UNITS,
        param_dtype: str | None = 'bfloat16',
        reduce_dtype: str | None = 'float32',
        reshard_after_forward: bool = True,
        state_dict_type: str = 'sharded',
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if state_dict_type not in ('sharded', 'full'):
            raise ValueError(
                f"FSDP2Strategy: `state_dict_type` must be 'sharded' or 'full', "
                f'got {state_dict_type!r}'
            )
        self.shard_units = tuple(shard_units)
        self.param_dtype = _dtype(param_dtype, 'param_dtype')
        self.reduce_dtype = _dtype(reduce_dtype, 'reduce_dtype')
        self.reshard_after_forward = reshard_after_forward
        self.state_dict_type = state_dict_type

    # ------------------------------------------------------------------- wrapping
    def _wrap_model(self, model: nn.Module) -> nn.Module:
        from torch.distributed.device_mesh import init_device_mesh

        if not torch_dist.is_initialized():
            raise RuntimeError(
                'FSDP2Strategy shards over a process group: start the run through a launcher '
                '(tools/dist_train.sh CONFIG N, tools/slurm_train.sh, or --launcher pytorch), '
                'N = 1 included'
            )
        device = torch.device(get_device())
        model = self.convert_model(model).to(device)
        with torch.no_grad():  # every rank starts from rank 0's initialisation, as with DDP
            for t in itertools.chain(model.parameters(), model.buffers()):
                torch_dist.broadcast(t.data, src=0)
        mesh = init_device_mesh(device.type, (torch_dist.get_world_size(),))
        units = self.shard(model, mesh)
        self.logger.info(
            f'FSDP2Strategy: {len(units)} units ({", ".join(sorted(self.shard_units))}) and the '
            f'root over {torch_dist.get_world_size()} ranks; parameters in '
            f'{self.param_dtype or torch.float32}, gradients reduced in '
            f'{self.reduce_dtype or self.param_dtype or torch.float32}'
        )
        return model

    def shard(self, model: nn.Module, mesh) -> list[nn.Module]:
        """``fully_shard`` every unit of ``model`` (innermost first), then the root, over
        ``mesh``, each parameter split along :func:`shard_dim`; returns the units. Also what
        tools/analysis_tools/pretrain_plan.py shards under fake tensors and a fake process
        group."""
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
        from torch.distributed.tensor import Shard

        def placement(param: nn.Parameter) -> Shard:
            return Shard(shard_dim(tuple(param.shape), mesh.size()))

        units = [m for m in model.modules() if type(m).__name__ in self.shard_units]
        if not units:
            raise ValueError(
                f'FSDP2Strategy: no module of {type(model).__name__} is one of the '
                f'`shard_units` {self.shard_units}'
            )
        policy = dict(param_dtype=self.param_dtype, reduce_dtype=self.reduce_dtype)
        for module in reversed(units):  # innermost first
            fully_shard(
                module,
                mesh=mesh,
                reshard_after_forward=self.reshard_after_forward,
                shard_placement_fn=placement,
                mp_policy=MixedPrecisionPolicy(**policy, cast_forward_inputs=True),
            )
        # the root: its parameters stay gathered from forward to backward; it leaves the batch
        # as it is (float64 ground boxes)
        fully_shard(
            model,
            mesh=mesh,
            reshard_after_forward=False,
            shard_placement_fn=placement,
            mp_policy=MixedPrecisionPolicy(**policy, cast_forward_inputs=False),
        )
        return units

    def build_optim_wrapper(self, optim_wrapper, model=None):
        wrapper = super().build_optim_wrapper(optim_wrapper, model)
        if isinstance(wrapper, AmpOptimWrapper):
            raise TypeError(
                'FSDP2Strategy: use OptimWrapper, not AmpOptimWrapper: the parameters are '
                'already computed in `param_dtype` (bf16) by the mixed-precision policy'
            )
        return wrapper

    # ---------------------------------------------------------------- state dicts
    def _options(self, full: bool, **kwargs):
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        return StateDictOptions(full_state_dict=full, cpu_offload=full, **kwargs)

    def model_state_dict(self) -> dict:
        """The full model state dict (DDP's keys) on rank 0, gathered; empty on the others."""
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        return get_model_state_dict(self.model, options=self._options(True))

    def optim_state_dict(self) -> dict:
        """The full optimiser state dict, keyed by parameter names, on rank 0."""
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        return get_optimizer_state_dict(
            self.model, self.optim_wrapper.optimizer, options=self._options(True)
        )

    def load_model_state_dict(self, state_dict: dict, *, strict: bool = False, revise_keys=()):
        """A full state dict (read on rank 0 only; the others pass anything) into the shards."""
        import re

        from torch.distributed.checkpoint.state_dict import set_model_state_dict

        if is_main_process():
            for pattern, repl in revise_keys:
                state_dict = {re.sub(pattern, repl, k): v for k, v in state_dict.items()}
        else:
            state_dict = {}
        set_model_state_dict(
            self.model,
            state_dict,
            options=self._options(True, broadcast_from_rank0=True, strict=strict),
        )

    def load_optim_state_dict(self, state_dict: dict) -> None:
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

        set_optimizer_state_dict(
            self.model,
            self.optim_wrapper.optimizer,
            state_dict if is_main_process() else {},
            options=self._options(True, broadcast_from_rank0=True),
        )

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(
        self,
        filename: str,
        *,
        save_optimizer: bool = True,
        save_param_scheduler: bool = True,
        extra_ckpt: dict | None = None,
        callback: Callable | None = None,
    ) -> None:
        """Every rank calls this. ``'sharded'``: the directory ``filename`` (shards and
        ``extra.pth``); ``'full'``: the file ``filename`` written by rank 0. ``callback`` (the
        runner's ``before_save_checkpoint`` hooks) sees the checkpoint without the weights in
        the sharded case."""
        from mmengine.runner.checkpoint import save_checkpoint

        extra = dict(extra_ckpt or {})
        extra.setdefault('meta', {}).update(
            seed=self.seed,
            time=time.strftime('%Y%m%d_%H%M%S', time.localtime()),
            mmengine=mmengine.__version__ + get_git_hash(),
            state_dict_type=self.state_dict_type,
        )
        if save_param_scheduler and hasattr(self, 'param_schedulers'):
            extra['param_schedulers'] = self.scheduler_state_dict()
        save_optimizer = save_optimizer and hasattr(self, 'optim_wrapper')
        if self.state_dict_type == 'full':
            ckpt = dict(state_dict=self.model_state_dict())
            if save_optimizer:
                ckpt['optimizer'] = self.optim_state_dict()
            if is_main_process():
                ckpt.update(extra)
                if callback is not None:
                    callback(ckpt)
                save_checkpoint(ckpt, filename)
            torch_dist.barrier()
            return
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import (
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        state = dict(state_dict=get_model_state_dict(self.model))
        if save_optimizer:
            state['optimizer'] = get_optimizer_state_dict(self.model, self.optim_wrapper.optimizer)
        if is_main_process():
            os.makedirs(filename, exist_ok=True)
        torch_dist.barrier()
        dcp.save(state, checkpoint_id=filename)
        if is_main_process():
            if callback is not None:
                callback(extra)
            torch.save(extra, osp.join(filename, EXTRA_FILE))
        torch_dist.barrier()

    def load_checkpoint(
        self,
        filename: str,
        *,
        map_location='cpu',
        strict: bool = False,
        revise_keys: list = [(r'^module.', '')],  # noqa: B006 (mmengine's signature)
        callback: Callable | None = None,
    ) -> dict:
        """The weights of a sharded directory or of a full checkpoint file (any mmengine
        checkpoint with the model's keys, e.g. a DDP run's); returns the rest."""
        return self._load(filename, False, strict, revise_keys, callback)

    def resume(
        self,
        filename: str,
        *,
        resume_optimizer: bool = True,
        resume_param_scheduler: bool = True,
        map_location='default',
        callback: Callable | None = None,
    ) -> dict:
        self.logger.info(f'Resume checkpoint from {filename}')
        checkpoint = self._load(filename, resume_optimizer, True, [], callback)
        if resume_param_scheduler and hasattr(self, 'param_schedulers'):
            self.load_scheduler_state_dict(checkpoint.pop('param_schedulers'))
        resumed_seed = checkpoint['meta'].get('seed', None)
        current_seed = self._randomness.get('seed')
        if resumed_seed is not None and resumed_seed != current_seed:
            if current_seed is not None:
                self.logger.warning(
                    f'The random seed of the checkpoint ({resumed_seed}) differs from the '
                    f'config ({current_seed}); resuming with the checkpoint one'
                )
            self._randomness.update(seed=resumed_seed)
            self._set_randomness(**self._randomness)
        return checkpoint

    def _load(self, filename, with_optimizer, strict, revise_keys, callback) -> dict:
        from mmengine.runner.checkpoint import _load_checkpoint

        if is_sharded_checkpoint(filename):
            import torch.distributed.checkpoint as dcp
            from torch.distributed.checkpoint.state_dict import (
                get_model_state_dict,
                get_optimizer_state_dict,
                set_model_state_dict,
                set_optimizer_state_dict,
            )

            extra_file = osp.join(filename, EXTRA_FILE)
            extra = torch.load(extra_file, map_location='cpu', weights_only=False)
            if callback is not None:
                callback(extra)
            state = dict(state_dict=get_model_state_dict(self.model))
            if with_optimizer:
                state['optimizer'] = get_optimizer_state_dict(
                    self.model, self.optim_wrapper.optimizer
                )
            dcp.load(state, checkpoint_id=filename)
            options = self._options(False, strict=strict)
            set_model_state_dict(self.model, state['state_dict'], options=options)
            if with_optimizer:
                set_optimizer_state_dict(
                    self.model, self.optim_wrapper.optimizer, state['optimizer']
                )
            return extra
        if not osp.isfile(filename):
            raise FileNotFoundError(
                f'FSDP2Strategy: {filename} is neither a checkpoint file nor a sharded '
                f'checkpoint directory (with {EXTRA_FILE})'
            )
        # a full checkpoint: read on rank 0, broadcast into the shards
        checkpoint = _load_checkpoint(filename, map_location='cpu') if is_main_process() else {}
        if is_main_process() and callback is not None:
            callback(checkpoint)
        self.load_model_state_dict(
            checkpoint.get('state_dict', checkpoint), strict=strict, revise_keys=revise_keys
        )
        if with_optimizer:
            self.load_optim_state_dict(checkpoint.get('optimizer', {}))
        # the rest (meta, message hub, schedulers) is small: every rank gets rank 0's
        rest = [{k: v for k, v in checkpoint.items() if k not in ('state_dict', 'optimizer')}]
        torch_dist.broadcast_object_list(rest, src=0)
        return rest[0]
