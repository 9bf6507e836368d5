"""A free TCP port on the loopback, for tests that start a process group (gloo) of their own.

Imported as ``from helpers.network import free_port`` (tests/ is on ``sys.path``).
"""

import socket


def free_port() -> int:
    """A port the system has just given out, hence free a moment later."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
