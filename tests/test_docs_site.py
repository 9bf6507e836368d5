"""The documentation site builds with ``mkdocs build --strict`` (what ``make docs`` runs): every
link resolves, every docstring of the API reference parses, and the build reads nothing from
the network."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_site_builds_strict(tmp_path):
    site = tmp_path / 'site'
    # no proxy, no route: a build that fetched anything would fail here
    env = dict(
        os.environ,
        NO_MKDOCS_2_WARNING='1',
        HTTPS_PROXY='http://127.0.0.1:9',
        HTTP_PROXY='http://127.0.0.1:9',
    )
    run = subprocess.run(
        [sys.executable, '-m', 'mkdocs', 'build', '--strict', '--site-dir', str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    api = (site / 'api' / 'index.html').read_text()
    # the reference comes from the docstrings
    assert 'get_model' in api
    assert 'builds its structure without allocating' in api
    # the config READMEs are pages, their paper figures included
    cd = (site / 'zoo' / 'skysense_v2_cd' / 'index.html').read_text()
    assert '94.83' in cd
    # the zoo's overview, from the model index: every config, the paper's figures
    zoo = (site / 'zoo' / 'index.html').read_text()
    assert '98.34' in zoo and 'upernet_skysense-v2-huge_4xb4-40k_isaid-896x896' in zoo
    assert 'fonts.googleapis.com' not in (site / 'index.html').read_text()
