"""One rank of the two-process (gloo) checks of test_selfsup_distributed.py, started by
``torch.distributed.run``: ``distributed_worker.py OUT DATA_ROOT TEXT_EMBEDDINGS``.

1. The cross-rank reductions on rank-specific inputs: Sinkhorn-Knopp, the DINO centring and the
   GCPL loss and prototype update. Inputs and results go to ``OUT/reductions_rank<r>.pt``; the
   test recomputes them in one process on the concatenated batch.
2. The tiny recipe (configs/skysense_v2, tiny) for 3 iterations with DDP (through Runner, with the
   huge recipe's DDP wrapper settings), then sharded (FSDP2Strategy through FlexibleRunner, fp32,
   a sharded checkpoint at iteration 2 and a full one at the end), then resumed sharded from the
   checkpoint of iteration 2, then one iteration sharded in bf16. Rank 0 writes the full state
   dicts and the EMA probes to ``OUT``.

Not a test module: the test launches it.
"""

import copy
import os.path as osp
import sys

import torch
import torch.distributed as torch_dist
import torch.nn.functional as F

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
TINY = osp.join(REPO, 'configs/skysense_v2/skysense-v2_tiny_1xb2-cpu-300it_geo-demo.py')
HUGE = osp.join(REPO, 'configs/skysense_v2/skysense-v2_huge_128xb8-bf16-600k_geotiff.py')
FSDP = osp.join(REPO, 'configs/skysense_v2/skysense-v2_huge_128xb8-fsdp-bf16-600k_geotiff.py')


def reduction_inputs(rank: int) -> dict:
    """Rank-specific inputs (different row counts, overlapping regions, masked rows)."""
    g = torch.Generator().manual_seed(100 + rank)
    protos = F.normalize(torch.randn(5, 8, generator=torch.Generator().manual_seed(7)), dim=1)
    n = (30, 20)[rank]
    scores = F.normalize(torch.randn(n, 8, generator=g), dim=1) @ protos.T
    b, tokens, dims = 3, 5, 8
    return dict(
        sk_scores=scores,
        sk_groups=torch.randint(0, 3, (n,), generator=g),
        sk_mask=torch.rand(n, generator=g) > 0.2,
        ce_logits=torch.randn(7, 6, generator=g),
        ce_weight=(torch.rand(7, generator=g) > 0.3).float(),
        gcpl_student=torch.randn(b, tokens, dims, generator=g),
        gcpl_teacher=torch.randn(b, tokens, dims, generator=g),
        gcpl_mask=torch.rand(b, tokens, generator=g) > 0.2,
        gcpl_regions=torch.tensor([[2, 0, 2], [2, 5, 1]][rank]),
    )


def run_reductions(x: dict) -> dict:
    """What the production code computes on these inputs (on each rank, or in one process)."""
    from mmskysense.models.losses import GCPLLoss, TeacherCentering, sinkhorn_knopp

    q = sinkhorn_knopp(
        x['sk_scores'], 0.05, 3, row_mask=x['sk_mask'], groups=x['sk_groups'], num_groups=3
    )
    centring = TeacherCentering(6, momentum=0.9)
    centring.center.fill_(0.5)
    centring.update(x['ce_logits'], x['ce_weight'])
    gcpl = GCPLLoss(num_regions=6, num_prototypes=4, dims=8, epsilon=0.05, sinkhorn_iters=3)
    student = x['gcpl_student'].clone().requires_grad_(True)
    out = gcpl(student, x['gcpl_teacher'], x['gcpl_mask'], x['gcpl_regions'])
    return dict(
        sk_plan=q,
        center=centring.center.clone(),
        gcpl_loss=out['loss_gcpl'].detach(),
        gcpl_used=out['gcpl_used_prototypes'].detach(),
        gcpl_valid=x['gcpl_mask'].sum(),
        prototypes=gcpl.prototypes.clone(),
    )


def full_state(model) -> dict:
    """The full state dict of a DDP-wrapped or sharded model (a collective when sharded)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    model = getattr(model, 'module', model)
    if any(hasattr(p, 'full_tensor') for p in model.parameters()):
        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return {k: v.clone() for k, v in get_model_state_dict(model, options=opts).items()}
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Probe:
    """Hooks that record full tensors around the teacher's EMA update of iteration ``at`` and
    the state right after loading (``before_run``)."""

    def __init__(self, at: int) -> None:
        from mmengine.hooks import Hook

        self.at, self.records = at, {}
        probe = self

        def named(model):
            return full_state(model)

        class Before(Hook):
            def before_run(self, runner):
                probe.records['start'] = named(runner.model)

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                if runner.iter == probe.at:
                    probe.records['before_ema'] = named(runner.model)

        class After(Hook):
            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                if runner.iter == probe.at:
                    probe.records['after_ema'] = named(runner.model)
                    probe.records['momentum'] = runner.message_hub.get_scalar(
                        'train/teacher_momentum'
                    ).current()
                probe.records.setdefault('losses', {})[runner.iter + 1] = {
                    k: float(v) for k, v in (outputs or {}).items()
                }

        self.before, self.after = Before(), After()

    def register(self, runner) -> None:
        runner.register_hook(self.before, priority='HIGH')  # before TeacherMomentumHook
        runner.register_hook(self.after, priority='NORMAL')  # after it


def tiny_cfg(out: str, data_root: str, text: str, name: str, max_iters: int = 3):
    from mmengine.config import Config

    from mmskysense.utils.hook_options import merge_hook_options

    cfg = Config.fromfile(TINY)
    cfg.merge_from_dict(
        {
            'train_dataloader.dataset.data_root': data_root,
            'model.ita_head.loss.text_embeddings': text,
            'train_cfg.max_iters': max_iters,
            'train_dataloader.num_workers': 0,
            'train_dataloader.persistent_workers': False,
            'default_hooks.logger.interval': 1,
            'default_hooks.checkpoint.interval': 2,
            'default_hooks.checkpoint.save_last': False,
            # no warm-up, and a fast teacher: two iterations move every weight measurably
            'param_scheduler.0.start_factor': 1.0,
            'param_scheduler.0.end': 1,
            'param_scheduler.1.begin': 1,
            'param_scheduler.1.T_max': 10,
            # the same batches in every run (the crops draw from numpy's seeded global state)
            'train_dataloader.sampler.seed': 0,
        }
    )
    merge_hook_options(cfg, {'TeacherMomentumHook.base_momentum': 0.5})  # the fast teacher
    cfg.work_dir = osp.join(out, name)
    cfg.experiment_name = name
    cfg.launcher = 'pytorch'
    cfg.log_level = 'WARNING'  # the initialisation and environment reports cost seconds here
    # every run starts from the same weights (a checkpoint with a DDP run's keys)
    cfg.load_from = osp.join(out, 'init.pth')
    return cfg


def main() -> None:
    out, data_root, text = sys.argv[1:4]
    from mmengine.config import Config
    from mmengine.runner import FlexibleRunner, Runner

    from mmskysense.engine.cpu_distributed import init_cpu_distributed
    from mmskysense.utils import register_all_modules

    torch.set_num_threads(1)
    init_cpu_distributed('pytorch')
    rank = torch_dist.get_rank()
    register_all_modules(init_default_scope=False)

    # 1. the reductions
    x = reduction_inputs(rank)
    result = dict(inputs=x, outputs=run_reductions(x))
    torch.save(result, osp.join(out, f'reductions_rank{rank}.pt'))

    # the common initial weights: one process builds and initialises the model
    if rank == 0:
        from mmskysense.registry import MODELS

        cfg = tiny_cfg(out, data_root, text, 'init')
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        torch.save(dict(state_dict=model.state_dict(), meta={}), cfg.load_from)
    torch_dist.barrier()

    results = {}
    # 2a. DDP, with the wrapper settings of the huge recipe
    cfg = tiny_cfg(out, data_root, text, 'ddp')
    cfg.default_hooks.checkpoint.interval = 10
    cfg.model_wrapper_cfg = copy.deepcopy(Config.fromfile(HUGE).model_wrapper_cfg)
    init_cpu_distributed('pytorch', cfg)
    runner = Runner.from_cfg(cfg)
    probe = Probe(at=1)
    probe.register(runner)
    runner.train()
    results['ddp'] = dict(end=full_state(runner.model), **probe.records)
    results['ddp_wrapper'] = dict(cfg.model_wrapper_cfg)

    # 2b. sharded, fp32 (to compare with DDP), the strategy of the huge FSDP recipe
    # (the parameters stay gathered between forward and backward here: fewer gloo all-gathers)
    strategy = dict(Config.fromfile(FSDP).strategy, reshard_after_forward=False)
    cfg = tiny_cfg(out, data_root, text, 'fsdp')
    cfg.runner_type = 'FlexibleRunner'
    cfg.strategy = dict(strategy, param_dtype=None, reduce_dtype=None)
    runner = FlexibleRunner.from_cfg(cfg)
    probe = Probe(at=1)
    probe.register(runner)
    runner.train()
    results['fsdp'] = dict(end=full_state(runner.model), **probe.records)
    # the other checkpoint format: one file with the DDP keys, gathered to rank 0
    runner.strategy.state_dict_type = 'full'
    runner.strategy.save_checkpoint(osp.join(out, 'fsdp_full.pth'), extra_ckpt=dict(meta={}))

    # 2c. resumed from the sharded checkpoint of iteration 2
    cfg = tiny_cfg(out, data_root, text, 'fsdp_resume')
    cfg.runner_type = 'FlexibleRunner'
    cfg.strategy = dict(strategy, param_dtype=None, reduce_dtype=None)
    cfg.resume, cfg.load_from = True, osp.join(out, 'fsdp', 'iter_2.pth')
    runner = FlexibleRunner.from_cfg(cfg)
    probe = Probe(at=-1)
    probe.register(runner)
    runner.train()
    results['resumed'] = dict(end=full_state(runner.model), **probe.records)

    # 2d. one iteration sharded in bf16 (the recipe's mixed precision)
    cfg = tiny_cfg(out, data_root, text, 'fsdp_bf16', max_iters=1)
    cfg.runner_type = 'FlexibleRunner'
    cfg.strategy = dict(strategy)
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint.interval = 10
    runner = FlexibleRunner.from_cfg(cfg)
    probe = Probe(at=-1)
    probe.register(runner)
    runner.train()
    results['bf16'] = dict(**probe.records)

    if rank == 0:
        torch.save(results, osp.join(out, 'runs.pt'))
    torch_dist.barrier()
    torch_dist.destroy_process_group()


if __name__ == '__main__':
    main()
