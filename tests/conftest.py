import sys
from pathlib import Path

# `fake_releases` (generators of fake dataset releases) is imported by tests in every folder
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402


@pytest.fixture
def one_intra_op_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy shared machine the threads
    oversubscribe the cores (measured ~10x slower); the setting is restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
