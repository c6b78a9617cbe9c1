"""In-place updates over the flat parameter buffer: the optimizers' steps and
the L2 term's gradient.

Each is one pass over the buffers in the parameters' precision: the arithmetic of
scikit-learn's ``AdamOptimizer`` (and Keras' RMSprop) without NumPy's temporary
arrays, a pass each.
"""

from cython cimport floating
from libc.math cimport sqrt, sqrtf


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef int _check_like(Py_ssize_t size, Py_ssize_t other, str name) except -1:
    if other != size:
        raise ValueError(f"optimizer: {name} has {other} elements, params {size}")
    return 0


def adam_update(
    floating[::1] params,                        # IN/OUT flat parameters
    const floating[::1] grads,                   # IN  their gradient
    floating[::1] m,                             # IN/OUT first moment
    floating[::1] v,                             # IN/OUT second moment
    double beta_1,
    double beta_2,
    double learning_rate,                        # IN  bias-corrected step size
    double epsilon,
):
    """One Adam step in place, in one pass over the buffers.

    ``m = beta_1 * m + (1 - beta_1) * g``, ``v = beta_2 * v + (1 - beta_2) * g**2``,
    ``params -= learning_rate * m / (sqrt(v) + epsilon)``: the arithmetic of
    ``AdamOptimizer`` without its ten NumPy passes, in the parameters'
    precision.
    """
    cdef Py_ssize_t n = params.shape[0]
    _check_like(n, grads.shape[0], "grads")
    _check_like(n, m.shape[0], "m")
    _check_like(n, v.shape[0], "v")
    with nogil:
        adam_step(n, &params[0] if n else NULL, &grads[0] if n else NULL,
                  &m[0] if n else NULL, &v[0] if n else NULL,
                  beta_1, beta_2, learning_rate, epsilon)


cdef void adam_step(Py_ssize_t n, floating *params, const floating *grads,
                    floating *m, floating *v, double beta_1, double beta_2,
                    double learning_rate, double epsilon) noexcept nogil:
    """:func:`adam_update` on ``n`` elements the caller has checked."""
    cdef floating b1 = beta_1, c1 = 1 - beta_1, b2 = beta_2, c2 = 1 - beta_2
    cdef floating lr = learning_rate, eps = epsilon, g
    cdef Py_ssize_t i
    for i in range(n):
        g = grads[i]
        m[i] = b1 * m[i] + c1 * g
        v[i] = b2 * v[i] + c2 * (g * g)
        params[i] -= lr * (m[i] / (_sqrt(v[i]) + eps))


def rmsprop_update(
    floating[::1] params,                        # IN/OUT flat parameters
    const floating[::1] grads,                   # IN  their gradient
    floating[::1] v,                             # IN/OUT mean square
    double rho,
    double learning_rate,
    double epsilon,
):
    """One RMSprop step in place (Keras' form: epsilon under the root).

    ``v = rho * v + (1 - rho) * g**2``; ``params -= learning_rate * g / sqrt(v +
    epsilon)``, in one pass, in the parameters' precision.
    """
    cdef Py_ssize_t n = params.shape[0]
    _check_like(n, grads.shape[0], "grads")
    _check_like(n, v.shape[0], "v")
    with nogil:
        rmsprop_step(n, &params[0] if n else NULL, &grads[0] if n else NULL,
                     &v[0] if n else NULL, rho, learning_rate, epsilon)


cdef void rmsprop_step(Py_ssize_t n, floating *params, const floating *grads,
                       floating *v, double rho, double learning_rate,
                       double epsilon) noexcept nogil:
    """:func:`rmsprop_update` on ``n`` elements the caller has checked."""
    cdef floating r = rho, c = 1 - rho, lr = learning_rate, eps = epsilon, g
    cdef Py_ssize_t i
    for i in range(n):
        g = grads[i]
        v[i] = r * v[i] + c * (g * g)
        params[i] -= lr * (g / _sqrt(v[i] + eps))


cdef void sgd_step(Py_ssize_t n, floating *params, const floating *grads,
                   floating *velocity, double learning_rate, double momentum,
                   bint nesterov) noexcept nogil:
    """``SGDOptimizer.update`` on ``n`` elements, rounding as its NumPy does.

    ``v = momentum * v - lr * g``, then ``w += v``, or with Nesterov's
    look-ahead ``w += momentum * v - lr * g``: each product and sum rounded to
    the parameters' precision in the same order as the NumPy passes.
    """
    cdef floating lr = learning_rate, mu = momentum, step, g
    cdef Py_ssize_t i
    for i in range(n):
        step = grads[i] * lr
        velocity[i] = velocity[i] * mu
        velocity[i] = velocity[i] - step
        if nesterov:
            g = mu * velocity[i]
            params[i] = params[i] + g
            params[i] = params[i] - step
        else:
            params[i] = params[i] + velocity[i]


def add_l2_gradient(
    const floating[::1] params,                  # IN  flat parameters
    floating[::1] grads,                         # IN/OUT their gradient
    const Py_ssize_t[:, ::1] runs,               # IN  (n, 2) [start, stop) ranges
    double scale,                                # IN  the L2 term's factor
):
    """``grads += scale * params`` over ``runs``; returns their squared norm.

    The L2 term of a minibatch's loss over the penalised weights (which lie in
    a few contiguous runs of the buffer): one call where NumPy took five per
    weight matrix, a fifth of a small model's time outside the kernels. The
    squares are summed in double precision.
    """
    cdef Py_ssize_t n = params.shape[0], r
    _check_like(n, grads.shape[0], "grads")
    if runs.shape[1] != 2:
        raise ValueError("optimizer: runs must be (n, 2) start, stop pairs")
    for r in range(runs.shape[0]):
        if not 0 <= runs[r, 0] <= runs[r, 1] <= n:
            raise ValueError(f"optimizer: run {r} is outside params")
    cdef double total
    with nogil:
        total = l2_gradient(&params[0] if n else NULL, &grads[0] if n else NULL,
                            &runs[0, 0] if runs.shape[0] else NULL, runs.shape[0],
                            scale)
    return total


cdef double l2_gradient(const floating *params, floating *grads,
                        const Py_ssize_t *runs, Py_ssize_t n_runs,
                        double scale) noexcept nogil:
    """:func:`add_l2_gradient` over ``n_runs`` checked runs (start, stop pairs)."""
    cdef floating factor = scale, value
    cdef double total = 0
    cdef Py_ssize_t r, i
    for r in range(n_runs):
        for i in range(runs[2 * r], runs[2 * r + 1]):
            value = params[i]
            total += <double> value * value
            grads[i] += factor * value
    return total
