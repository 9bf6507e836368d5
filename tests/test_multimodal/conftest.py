"""Shared by the multi-modal downstream tests: one intra-op thread, and one generated release
per dataset family for the whole session (the config tests share them)."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location('mm_tiny', Path(__file__).with_name('mm_tiny.py'))
mm_tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mm_tiny)


@pytest.fixture(autouse=True)
def _one_thread(one_intra_op_thread):
    yield


@pytest.fixture(scope='session')
def mm_release(tmp_path_factory):
    """``family -> data_root`` of a generated release, made on first use."""
    made = {}

    def get(family: str) -> str:
        if family not in made:
            first = {'dyna': 'dyna_planet', 'pastis': 'pastis_s2', 'ben': 'ben_s1'}[family]
            made[family] = mm_tiny.make_data(first, str(tmp_path_factory.mktemp(family)))
        return made[family]

    return get
