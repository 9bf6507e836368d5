"""Outputs that appear whole or not at all: written under a temporary name beside the
destination, then renamed onto it (a rename within one folder is atomic), so that a failure
or an interrupted run never leaves a half-written file under the name a user or a GIS opens.

Dependency-free (``os``, ``tempfile``): the scene writers, the contract JSON and the sharded
checkpoint conversion all publish their files through these two functions.
"""

import os
import os.path as osp
import tempfile


def partial_path(dst_path: str, suffix: str) -> str:
    """A new empty temporary file beside ``dst_path`` (same folder: the rename is atomic),
    hidden (a leading dot) and named after it; its folder is made if needed."""
    dst_dir = osp.dirname(osp.abspath(dst_path))
    os.makedirs(dst_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(dst_path)}.', suffix=suffix, dir=dst_dir)
    os.close(fd)
    return tmp


def publish(tmp: str, dst_path: str) -> None:
    """Give ``tmp`` (private, 0600, from mkstemp) the permissions ``open()`` gives a new file
    under the umask, and rename it onto ``dst_path``."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, dst_path)
