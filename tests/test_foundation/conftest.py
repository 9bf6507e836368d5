import sys
from pathlib import Path

import pytest

# the support folder holds the toy task and the subprocess helpers the tests import
sys.path.insert(0, str(Path(__file__).resolve().parent / 'support'))

from foundation_testing import CONFIGS  # noqa: E402


@pytest.fixture
def toy_config() -> Path:
    return CONFIGS / 'toy_regression.py'
