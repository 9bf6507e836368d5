"""Write the model's input contract into every checkpoint's ``meta['input_contract']``.

The contract (``mmskysense.apis.scene.contract``) is derived once, from the runner's config and
its training dataset's ``metainfo`` (class names and palette), before training; each checkpoint
then carries it, so that a checkpoint alone tells a scene, an exporter or a colleague what the
model takes (bands, GSD, standardisation, tiles, classes). A config whose contract cannot be
derived (a multi-modal model that states no ``scene_inputs``) trains on, with a warning naming
the reason, and its checkpoints carry none.
"""

import warnings

from mmengine.hooks import Hook

from mmskysense.registry import HOOKS


def _dataset_meta(runner) -> dict | None:
    """The training dataset's metainfo, as mmengine's runner puts it into ``meta``."""
    try:
        dataset = runner.train_dataloader.dataset
    except (AttributeError, RuntimeError):  # no train loop (a test run)
        return None
    return getattr(dataset, 'metainfo', None)


@HOOKS.register_module()
class InputContractHook(Hook):
    """Adds ``input_contract`` (``contract_to_dict``) to the ``meta`` of each checkpoint."""

    priority = 'LOW'

    def __init__(self) -> None:
        self.contract = None
        self._derived = False

    def _derive(self, runner) -> None:
        from mmskysense.apis.scene.contract import contract_from_config, contract_to_dict

        self._derived = True
        try:
            self.contract = contract_to_dict(
                contract_from_config(runner.cfg, _dataset_meta(runner))
            )
        except ValueError as err:
            warnings.warn(
                f'InputContractHook: checkpoints of {runner.cfg.filename} carry no input '
                f'contract: {err}',
                stacklevel=2,
            )

    def before_train(self, runner) -> None:
        self._derive(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self._derived:
            self._derive(runner)
        if self.contract is not None:
            checkpoint.setdefault('meta', {})['input_contract'] = self.contract
