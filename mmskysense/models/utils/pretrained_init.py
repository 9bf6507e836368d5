"""One pretrained-init pair for every pretrained component (the backbone, the fusion F_fus):
``load_pretrained`` and ``init_weights`` with ``init_cfg=dict(type='Pretrained', ...)``.

A class mixes in :class:`PretrainedInitMixin` before its torch / mmengine base, names its
component (where the pretraining algorithm keeps it, :data:`COMPONENT_PREFIXES`) and whether a
checkpoint must fit it whole, and overrides ``adapt_checkpoint_keys`` if its keys have rules
(the backbone's: SkySense V1 keys, MoE layouts, ...). The loader finds those rules through that
method (:mod:`.checkpoint_loader`), never through the class.
"""

from collections.abc import Mapping

from .checkpoint_loader import StateDict, load_weights

#: where the pretraining algorithm (``SkySenseV2``) keeps each pretrained component, per
#: network: the EMA teacher's (the paper fine-tunes the teacher, Figure 5) and the student's
COMPONENT_PREFIXES: dict[str, dict[str, str]] = dict(
    backbone=dict(teacher='teacher.backbone.', student='backbone.'),
    fusion=dict(teacher='teacher.fusion.', student='fusion.'),
)


def component_prefixes(component: str) -> dict[str, str]:
    """``network -> prefix`` of a component named in :data:`COMPONENT_PREFIXES`."""
    if component not in COMPONENT_PREFIXES:
        raise ValueError(
            f'checkpoint_filter_fn: `component` must be one of {sorted(COMPONENT_PREFIXES)}, '
            f'got {component!r}'
        )
    return COMPONENT_PREFIXES[component]


class PretrainedInitMixin:
    """``load_pretrained`` and ``init_weights(init_cfg=dict(type='Pretrained', checkpoint=...,
    prefix=None, network='teacher', map_location='cpu'))`` through the one loader.

    The report of the last load (missing, unexpected, mismatched and dropped keys) is kept in
    ``self.pretrained_report``.
    """

    #: the key of :data:`COMPONENT_PREFIXES` that says where checkpoints keep this module
    pretrained_component: str = 'backbone'
    #: refuse a checkpoint that lacks keys of the module or has them with other shapes
    pretrained_strict: bool = False
    pretrained_report: dict | None = None

    @property
    def checkpoint_prefixes(self) -> dict[str, str]:
        """Where a pretraining checkpoint keeps this component, per network."""
        return component_prefixes(self.pretrained_component)

    def adapt_checkpoint_keys(self, state: StateDict, dropped: list[str]) -> StateDict:
        """The component's key rules on its own keys (no prefix); none by default."""
        return state

    def load_pretrained(
        self,
        checkpoint: str | Mapping,
        prefix: str | None = None,
        network: str = 'teacher',
        map_location: str = 'cpu',
    ) -> dict:
        """Load a checkpoint (path, URL or dict) through the one loader and keep its report.

        ``prefix`` None takes the pretraining teacher's copy of this component when the
        checkpoint has one, else the student's (which is also how an extracted or fine-tuned
        checkpoint names it), else the keys as they are; ``network='student'`` takes the
        student's.
        """
        self.pretrained_report = load_weights(
            self,
            checkpoint,
            prefix=prefix,
            network=network,
            strict=self.pretrained_strict,
            map_location=map_location,
        )
        return self.pretrained_report

    def init_weights(self) -> None:
        """``init_cfg`` of type ``'Pretrained'`` loads; anything else is the base class's."""
        cfg = getattr(self, 'init_cfg', None)
        if isinstance(cfg, Mapping) and cfg.get('type') == 'Pretrained':
            if 'checkpoint' not in cfg:
                raise KeyError(
                    f"{type(self).__name__}: init_cfg of type 'Pretrained' needs a 'checkpoint'"
                )
            self.load_pretrained(
                cfg['checkpoint'],
                prefix=cfg.get('prefix'),
                network=cfg.get('network', 'teacher'),
                map_location=cfg.get('map_location', 'cpu'),
            )
            if hasattr(self, '_is_init'):  # mmengine's BaseModule: not initialised again
                self._is_init = True
            return
        base_init = getattr(super(), 'init_weights', None)  # torch's nn.Module has none
        if base_init is not None:
            base_init()
