"""Distributed training on machines without GPUs, through the launchers GPU clusters use.

mmengine 0.10.7 assumes a GPU per process: ``_init_dist_pytorch`` and ``_init_dist_slurm`` call
``torch.cuda.set_device`` (and the slurm path divides by the GPU count), the default backend is
nccl, and ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]`` to DistributedDataParallel.

When no GPU is visible, :func:`init_cpu_distributed` starts the process group itself with gloo
from the same environment the launcher set (torchrun / ``torch.distributed.launch``, srun, mpirun),
before the Runner exists, so that ``Runner.setup_env`` finds it initialised and skips mmengine's
GPU-only path. It also rewrites the config so that DDP wraps a CPU module (``device_ids=None``).
On machines with GPUs nothing changes: nccl through mmengine, exactly as upstream.
"""

import datetime
import os
import subprocess

import torch
import torch.distributed as torch_dist

#: the launchers of mmengine's ``init_dist`` that this module can start without GPUs
SUPPORTED_LAUNCHERS = ('pytorch', 'slurm', 'mpi')


def needs_cpu_distributed(launcher: str) -> bool:
    """Whether a run with this launcher needs the CPU path (distributed and no GPU visible)."""
    return launcher != 'none' and not torch.cuda.is_available()


def _env_int(name: str, launcher: str) -> int:
    try:
        return int(os.environ[name])
    except KeyError:
        raise KeyError(
            f'--launcher {launcher} expects the environment variable {name}, which '
            'is not set: start the script through its launcher (tools/dist_train.sh, '
            'tools/slurm_train.sh or mpirun), not directly'
        ) from None


def _rank_and_world(launcher: str, port: int | None) -> tuple:
    if launcher == 'pytorch':
        return _env_int('RANK', launcher), _env_int('WORLD_SIZE', launcher)
    if launcher == 'slurm':
        rank = _env_int('SLURM_PROCID', launcher)
        world = _env_int('SLURM_NTASKS', launcher)
        if 'MASTER_ADDR' not in os.environ:
            node_list = os.environ.get('SLURM_NODELIST', '')
            os.environ['MASTER_ADDR'] = subprocess.getoutput(
                f'scontrol show hostname {node_list} | head -n1'
            )
        if port is not None:
            os.environ['MASTER_PORT'] = str(port)
        os.environ.setdefault('MASTER_PORT', '29500')
        os.environ['WORLD_SIZE'] = str(world)
        os.environ['RANK'] = str(rank)
        os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
        return rank, world
    if launcher == 'mpi':
        rank = _env_int('OMPI_COMM_WORLD_RANK', launcher)
        world = _env_int('OMPI_COMM_WORLD_SIZE', launcher)
        os.environ['RANK'], os.environ['WORLD_SIZE'] = str(rank), str(world)
        os.environ['LOCAL_RANK'] = os.environ.get('OMPI_COMM_WORLD_LOCAL_RANK', '0')
        os.environ.setdefault('MASTER_PORT', '29500')
        if 'MASTER_ADDR' not in os.environ:
            raise KeyError('--launcher mpi expects the environment variable MASTER_ADDR')
        return rank, world
    raise ValueError(f'launcher must be one of {SUPPORTED_LAUNCHERS}, got {launcher!r}')


def init_cpu_distributed(launcher: str, cfg=None) -> None:
    """Start a gloo process group for ``launcher`` and adapt ``cfg`` (an mmengine Config) to it.

    Does nothing when not distributed, when a GPU is visible, or when a process group exists.
    """
    if not needs_cpu_distributed(launcher):
        return
    env_cfg = cfg.get('env_cfg', {}) if cfg is not None else {}
    dist_cfg = dict(env_cfg.get('dist_cfg', {}))
    if not torch_dist.is_initialized():
        rank, world = _rank_and_world(launcher, dist_cfg.get('port'))
        timeout = datetime.timedelta(seconds=dist_cfg.get('timeout', 1800))
        torch_dist.init_process_group(
            backend='gloo', init_method='env://', rank=rank, world_size=world, timeout=timeout
        )
    if cfg is None:
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        # what Runner.wrap_model builds by default, minus the GPU device ids
        wrapper = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False),
        )
    from mmengine.registry import MODEL_WRAPPERS
    from torch.nn.parallel import DistributedDataParallel

    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    wrapper_cls = (
        MODEL_WRAPPERS.get(wrapper_type) if isinstance(wrapper_type, str) else wrapper_type
    )
    if wrapper_cls is not None and issubclass(wrapper_cls, DistributedDataParallel):
        wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
