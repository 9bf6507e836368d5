"""Helpers for the foundation tests: run the project's tools in a subprocess."""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SUPPORT = Path(__file__).resolve().parent
CONFIGS = SUPPORT.parent / 'configs'


def tool_env(**extra) -> dict:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(SUPPORT), str(REPO), env.get('PYTHONPATH', '')])
    # two processes on two cores: one thread each keeps them from thrashing
    env.setdefault('OMP_NUM_THREADS', '1')
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(cmd, timeout=600, check=True, **env_extra) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=REPO,
        env=tool_env(**env_extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{cmd} exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}'
            f'\n--- stderr\n{proc.stderr[-6000:]}'
        )
    return proc


def run_python(code: str, timeout=600, check=True, **env_extra) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (import-time behaviour needs one)."""
    import sys

    return run([sys.executable, '-c', code], timeout=timeout, check=check, **env_extra)
