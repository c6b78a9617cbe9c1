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


@pytest.fixture
def interrupt_at_minibatch(monkeypatch):
    """``interrupt_at_minibatch(n)``: Ctrl-C before the n-th minibatch's update.

    Counts the minibatches of both training routes (the minibatch kernel's and
    the Python loop's) and raises KeyboardInterrupt where the n-th would run,
    after the ones before it have updated the weights.
    """
    from sklstm import _training
    from sklstm._network import LSTMNetwork

    kernel = _training.train_minibatches
    loss_and_gradient = LSTMNetwork.loss_and_gradient
    seen = []

    def arm(n):
        def in_python(self, *args, **kwargs):
            seen.append(1)
            if len(seen) == n:
                raise KeyboardInterrupt
            return loss_and_gradient(self, *args, **kwargs)

        def in_kernel(*args):
            # train_minibatches(..., order, batch_starts, ..., results)
            args = list(args)
            starts = args[6]
            n_batches, left = len(starts) - 1, n - 1 - len(seen)
            if left >= n_batches:
                seen.extend([1] * n_batches)
                return kernel(*args)
            if left:
                args[6], args[-1] = starts[: left + 1], args[-1][:left]
                kernel(*args)
            raise KeyboardInterrupt

        monkeypatch.setattr(LSTMNetwork, "loss_and_gradient", in_python)
        monkeypatch.setattr(_training, "train_minibatches", in_kernel)

    def disarm():
        monkeypatch.setattr(LSTMNetwork, "loss_and_gradient", loss_and_gradient)
        monkeypatch.setattr(_training, "train_minibatches", kernel)

    arm.disarm = disarm
    return arm
