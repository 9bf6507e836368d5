import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmskysense module so that it is in the registries.

    Args:
        init_default_scope: whether to make ``mmskysense`` the default scope. When the current
            default scope is another one, a new instance named with a timestamp is created, so
            that builds happen in ``mmskysense`` without dropping the other scope's instance.
    """
    import mmskysense.compat  # noqa: F401  (patches needed before any other library runs)
    import mmskysense.datasets.registered  # noqa: F401,F403
    import mmskysense.engine  # noqa: F401,F403
    import mmskysense.evaluation  # noqa: F401,F403
    import mmskysense.models  # noqa: F401,F403
    import mmskysense.visualization  # noqa: F401,F403

    if not init_default_scope:
        return
    never_created = (
        DefaultScope.get_current_instance() is None
        or not DefaultScope.check_instance_created('mmskysense')
    )
    if never_created:
        DefaultScope.get_instance('mmskysense', scope_name='mmskysense')
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope.scope_name != 'mmskysense':
        warnings.warn(
            'The current default scope '
            f'"{current_scope.scope_name}" is not "mmskysense", '
            '`register_all_modules` will force the current'
            'default scope to be "mmskysense". If this is not '
            'expected, please set `init_default_scope=False`.'
        )
        new_instance_name = f'mmskysense-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_instance_name, scope_name='mmskysense')
