"""Online k-NN of the teacher during pretraining (DINO's monitor of representation quality).

Every ``interval`` iterations (and before the first one, which gives the random-initialisation
figure, and after the last), the teacher's HR backbone classifies the held-out scenes of a scene
set by weighted k-NN against its reference scenes (``mmskysense.evaluation.knn``: the protocol of
``tools/analysis_tools/knn_eval.py``). The accuracy, and the effective rank and mean pairwise
cosine of the held-out features, are written to the Runner's visualizer at the iteration's step
(``<name>/top1``, ``<name>/feat_erank``, ``<name>/feat_mean_cos`` in ``vis_data/scalars.json``)
and to the log.
"""

import time

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmskysense.registry import HOOKS


@HOOKS.register_module()
class KNNEvalHook(Hook):
    """k-NN top-1 of the teacher's backbone on a held-out scene set, every ``interval`` steps.

    Args:
        data_root: the scene set, generated geo samples (``<data_root>/samples/<id>/hr.tif`` and
            ``osm.tif``); never the pretraining samples. With ``split_file``: the root of a
            class-folder image collection.
        split_file: a split of ``tools/dataset_converters/make_image_split.py``: its
            reference and query images (resized whole to ``crop_size``) are the k-NN sets,
            and ``train_frac`` is not used.
        interval: evaluate every this many iterations (and before the first, and after the last).
        name: the log prefix (several hooks may watch several scene sets).
        crop_size: HR pixels of a scene tile (of an image, with ``split_file``).
        input_size: resize tiles to this size before the backbone (None: as cut), to match the
            ground sampling of the training views.
        train_frac: fraction of the samples that form the reference set.
        k, temperature: DINO's weighted k-NN.
        network: ``'teacher'`` (the EMA, what downstream tasks get) or ``'student'``.
        before_train: evaluate the initial weights too (step 0).
    """

    priority = 'LOW'  # after the teacher's EMA update of the iteration (ABOVE_NORMAL)

    def __init__(
        self,
        data_root: str,
        interval: int = 50,
        name: str = 'knn',
        crop_size: int = 64,
        input_size: int | None = None,
        train_frac: float = 0.5,
        k: int = 20,
        temperature: float = 0.07,
        network: str = 'teacher',
        before_train: bool = True,
        split_file: str | None = None,
    ) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'KNNEvalHook: `interval` must be a positive int, got {interval!r}')
        if network not in ('teacher', 'student'):
            raise ValueError(
                f"KNNEvalHook: `network` must be 'teacher' or 'student', got {network!r}"
            )
        if not 0.0 < train_frac < 1.0:
            raise ValueError(f'KNNEvalHook: `train_frac` must be in (0, 1), got {train_frac}')
        self.data_root = data_root
        self.split_file = split_file
        self.interval = interval
        self.name = name
        self.crop_size = crop_size
        self.input_size = input_size
        self.train_frac = train_frac
        self.k = k
        self.temperature = temperature
        self.network = network
        self.eval_before_train = before_train
        self.scenes = None
        self.history: list[dict] = []

    def before_train(self, runner) -> None:
        from mmskysense.evaluation import load_image_split_sets, load_scenes

        # read once: the sets are small and the same at every evaluation
        if self.split_file:
            self.scenes = load_image_split_sets(self.data_root, self.split_file, self.crop_size)
        else:
            self.scenes = load_scenes(self.data_root, self.crop_size)
        if self.eval_before_train:
            self._evaluate(runner, runner.iter)

    def after_train_iter(
        self, runner, batch_idx: int, data_batch: dict | None = None, outputs: dict | None = None
    ) -> None:
        if self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner):
            self._evaluate(runner, runner.iter + 1)

    @torch.no_grad()
    def _evaluate(self, runner, step: int) -> None:
        from mmskysense.evaluation import knn_accuracy, knn_scene_accuracy

        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'teacher'):
            raise AttributeError(
                f'KNNEvalHook: {type(model).__name__} has no `teacher`; it watches a '
                'teacher-student pretraining model'
            )
        backbone = model.teacher['backbone'] if self.network == 'teacher' else model.backbone
        pre = model.data_preprocessor
        start = time.time()
        if self.split_file:
            result = knn_accuracy(
                backbone,
                self.scenes['reference'],
                self.scenes['query'],
                pre.hr_mean,
                pre.hr_std,
                self.k,
                self.temperature,
                self.input_size,
            )
        else:
            result = knn_scene_accuracy(
                backbone,
                self.scenes,
                pre.hr_mean,
                pre.hr_std,
                self.train_frac,
                self.k,
                self.temperature,
                self.input_size,
            )
        scalars = {
            f'{self.name}/top1': result['top1'],
            f'{self.name}/majority': result['majority_baseline'],
            f'{self.name}/feat_erank': result['feat_erank'],
            f'{self.name}/feat_mean_cos': result['feat_mean_cos'],
        }
        runner.visualizer.add_scalars(scalars, step=step)
        self.history.append(dict(step=step, **scalars))
        runner.logger.info(
            f'{self.name} (k-NN of the {self.network} on {self.data_root}) at step {step}: '
            f'top-1 {result["top1"]:.2f} % (majority {result["majority_baseline"]:.2f} %, '
            f'{result["num_train"]} reference / {result["num_test"]} held-out), '
            f'feature erank {result["feat_erank"]:.2f}, mean cosine '
            f'{result["feat_mean_cos"]:.3f} ({time.time() - start:.1f} s)'
        )
