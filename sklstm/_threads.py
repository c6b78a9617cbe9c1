"""How many threads the kernels use, and keeping BLAS out of their way.

The kernels split each minibatch between OpenMP threads themselves (by rows: each
thread takes its sequences through every step and layer) and may call BLAS from
every thread, so
BLAS must run single-threaded meanwhile: its own threads would oversubscribe the
cores, and OpenBLAS splits the small per-step products badly anyway. The thread
count follows OpenMP's (``OMP_NUM_THREADS``, ``threadpoolctl`` limits, joblib's
limits in its workers).
"""

import threading

from threadpoolctl import ThreadpoolController

from sklstm._kernels._parallel import openmp_max_threads

# One BLAS limit shared by every thread that runs kernels (concurrent predict calls
# from several threads): the first in sets it, the last out restores the original.
# The BLAS libraries are found once (threadpoolctl's search takes ~1 ms); each
# entry reads and sets their thread counts directly, not through a threadpoolctl
# limiter, whose bookkeeping (an info dict per library, each way) cost ~20 us a
# call, a third of a small batch's prediction.
_lock = threading.Lock()
_state = {"libraries": None, "saved": (), "users": 0}


def _blas_libraries():
    if _state["libraries"] is None:
        _state["libraries"] = tuple(
            ThreadpoolController().select(user_api="blas").lib_controllers
        )
    return _state["libraries"]


# A prediction splits its rows between threads only from this many sequence
# steps on: below, each thread's fixed costs (waking it, packing every layer's
# weights into its own copy) outweigh its share of the rows, whose cost grows
# with their steps (measured in benchmarks/README.md).
MIN_STEPS_TO_SPLIT = 100


class kernel_threads:
    """Threads for kernels on minibatches of up to ``max_batch`` sequences.

    A context manager; ``with kernel_threads(batch) as n_threads:`` gives the
    thread count, and while it is above 1, BLAS is limited to one thread. A
    minibatch of one sequence cannot be split, so it leaves BLAS alone (a class,
    not a generator: the single-sequence prediction path enters it too). Given
    ``n_steps`` (a prediction's longest sequence), a batch of fewer than
    :data:`MIN_STEPS_TO_SPLIT` sequence steps stays on one thread too.
    """

    __slots__ = ("n_threads",)

    def __init__(self, max_batch, n_steps=None):
        split = max_batch > 1 and (
            n_steps is None or max_batch * n_steps >= MIN_STEPS_TO_SPLIT
        )
        self.n_threads = openmp_max_threads() if split else 1

    def __enter__(self):
        if self.n_threads > 1:
            with _lock:
                if _state["users"] == 0:
                    saved = [(lib, lib.num_threads) for lib in _blas_libraries()]
                    _state["saved"] = [(lib, n) for lib, n in saved if n != 1]
                    for lib, _ in _state["saved"]:
                        lib.set_num_threads(1)
                _state["users"] += 1
        return self.n_threads

    def __exit__(self, *exc_info):
        if self.n_threads > 1:
            with _lock:
                _state["users"] -= 1
                if _state["users"] == 0:
                    for lib, n in _state["saved"]:
                        lib.set_num_threads(n)
                    _state["saved"] = ()
        return False
