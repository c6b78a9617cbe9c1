"""Each optimizer's in-place update against its formula, written out by hand."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklstm._optimizers import AdamOptimizer, RMSpropOptimizer, SGDOptimizer

RNG = np.random.RandomState(0)
GRADIENTS = [RNG.normal(size=7) for _ in range(3)]
START = RNG.normal(size=7)


def run(optimizer_class, dtype=np.float64, **params):
    weights = START.astype(dtype)
    optimizer = optimizer_class(weights, **params)
    for grads in GRADIENTS:
        optimizer.update(weights, grads.astype(dtype))
    return weights


TOLERANCE = {np.float64: 1e-14, np.float32: 1e-5}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rmsprop_is_keras_rmsprop(dtype):
    lr, rho, eps = 0.01, 0.8, 1e-7
    w, v = START.copy(), np.zeros(7)
    for g in GRADIENTS:
        v = rho * v + (1 - rho) * g**2
        w = w - lr * g / np.sqrt(v + eps)
    got = run(RMSpropOptimizer, dtype, learning_rate_init=lr, rho=rho, epsilon=eps)
    assert got.dtype == dtype
    assert_allclose(got, w, rtol=TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_is_mlp_adam(dtype):
    lr, b1, b2, eps = 0.01, 0.8, 0.9, 1e-8
    w, m, v = START.copy(), np.zeros(7), np.zeros(7)
    for t, g in enumerate(GRADIENTS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        step = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        w = w - step * m / (np.sqrt(v) + eps)
    got = run(
        AdamOptimizer, dtype, learning_rate_init=lr, beta_1=b1, beta_2=b2, epsilon=eps
    )
    assert got.dtype == dtype
    assert_allclose(got, w, rtol=TOLERANCE[dtype])


@pytest.mark.parametrize("optimizer_class", [AdamOptimizer, RMSpropOptimizer])
def test_update_refuses_buffers_of_another_size(optimizer_class):
    weights = START.copy()
    optimizer = optimizer_class(weights)
    with pytest.raises(ValueError, match="grads has 6 elements, params 7"):
        optimizer.update(weights, GRADIENTS[0][:6])


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_is_mlp_sgd(nesterov):
    lr, mu = 0.1, 0.7
    w, velocity = START.copy(), np.zeros(7)
    for g in GRADIENTS:
        velocity = mu * velocity - lr * g
        w = w + (mu * velocity - lr * g if nesterov else velocity)
    got = run(SGDOptimizer, learning_rate_init=lr, momentum=mu, nesterov=nesterov)
    assert_allclose(got, w, rtol=1e-14)


def test_sgd_schedules():
    weights = START.copy()
    invscaling = SGDOptimizer(weights, 0.5, "invscaling", power_t=0.5)
    invscaling.iteration_ends(99)
    assert invscaling.learning_rate == pytest.approx(0.05)
    adaptive = SGDOptimizer(weights, 0.5, "adaptive")
    assert not adaptive.trigger_stopping("no improvement.", verbose=False)
    assert adaptive.learning_rate == pytest.approx(0.1)
    adaptive.learning_rate = 1e-6
    assert adaptive.trigger_stopping("no improvement.", verbose=False)
    assert SGDOptimizer(weights, 0.5, "constant").trigger_stopping("", verbose=False)
