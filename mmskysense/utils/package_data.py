"""Where the configs and the model index are, in a clone and in an installed package.

OpenMMLab packages ship their configs, tools and ``model-index.yml`` as package data under
``<package>/.mim/`` (``mim search`` and ``mim download`` read them there); in a clone they sit at
the repository root, beside the package. ``setup.py`` copies them into ``mmskysense/.mim`` when a
wheel is built (and links them there for an editable install), so both layouts hold the same
files: ``configs/<folder>/<name>.py``, ``configs/<folder>/metafile.yml``, ``model-index.yml``.
"""

import os.path as osp

PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
MIM_DIR = osp.join(PACKAGE_DIR, '.mim')
CLONE_DIR = osp.dirname(PACKAGE_DIR)


def package_data_root() -> str:
    """The folder that holds ``configs/`` and ``model-index.yml``: ``mmskysense/.mim`` of an
    installed package, else the clone's root.

    Raises:
        FileNotFoundError: neither holds a ``configs`` folder (a package built without its
            configs), naming both places looked at.
    """
    for root in (MIM_DIR, CLONE_DIR):
        if osp.isdir(osp.join(root, 'configs')):
            return root
    raise FileNotFoundError(
        f'no configs folder in {MIM_DIR} (an installed package) nor in {CLONE_DIR} (a clone); '
        'reinstall mmskysense from a wheel or a clone that has configs/'
    )


def config_root() -> str:
    """The ``configs`` folder (see ``package_data_root``)."""
    return osp.join(package_data_root(), 'configs')


def model_index_path() -> str:
    """``model-index.yml`` beside ``configs`` (see ``package_data_root``)."""
    path = osp.join(package_data_root(), 'model-index.yml')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} does not exist: the model index ships beside configs/')
    return path
