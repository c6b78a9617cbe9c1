"""How many threads the kernels use, and keeping BLAS out of their way.

The kernels split each minibatch between OpenMP threads themselves (rows for the
recurrence, columns for the weight gradients) and call BLAS from every thread, so
BLAS must run single-threaded meanwhile: its own threads would oversubscribe the
cores, and OpenBLAS splits the small per-step products badly anyway. The thread
count follows OpenMP's (``OMP_NUM_THREADS``, ``threadpoolctl`` limits, joblib's
limits in its workers).
"""

import threading
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

from sklstm._lstm_fast import openmp_max_threads

# One BLAS limit shared by every thread that runs kernels (concurrent predict calls
# from several threads): the first in sets it, the last out restores the original.
_lock = threading.Lock()
_state = {"controller": None, "limiter": None, "users": 0}


@contextmanager
def kernel_threads(max_batch):
    """Threads for kernels on minibatches of up to ``max_batch`` sequences.

    Yields the thread count; while it is above 1, BLAS is limited to one thread.
    A minibatch of one sequence cannot be split, so it leaves BLAS alone.
    """
    n_threads = openmp_max_threads() if max_batch > 1 else 1
    if n_threads == 1:
        yield 1
        return
    with _lock:
        if _state["users"] == 0:
            if _state["controller"] is None:
                # Finding the loaded libraries takes ~1 ms: do it once.
                _state["controller"] = ThreadpoolController().select(user_api="blas")
            _state["limiter"] = _state["controller"].limit(limits=1)
        _state["users"] += 1
    try:
        yield n_threads
    finally:
        with _lock:
            _state["users"] -= 1
            if _state["users"] == 0:
                _state["limiter"].restore_original_limits()
                _state["limiter"] = None
