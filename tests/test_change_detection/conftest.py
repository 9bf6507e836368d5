"""Shared by the change-detection tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny models gain nothing from intra-op threads, and on a busy shared machine the threads
    # oversubscribe the cores; restore the setting afterwards
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
