"""Fixtures shared by the test modules."""

import pytest

from sklstm._kernels._parallel import _tuning


@pytest.fixture
def split_any_work():
    """Let the kernels give even the tiniest work a thread of its own, always.

    No minimum work per thread, and no backoff to one thread when the machine is
    busy (a busy CI machine would otherwise test the serial path only).
    """
    min_chunk_flops, backoff_seconds, _ = _tuning(0.0, 0.0)
    yield
    _tuning(min_chunk_flops, backoff_seconds)
