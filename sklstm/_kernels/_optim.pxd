# The optimizers' steps and the L2 gradient on checked buffers, for the kernels
# that run whole minibatches (_epoch).

from cython cimport floating


cdef void adam_step(Py_ssize_t n, floating *params, const floating *grads,
                    floating *m, floating *v, double beta_1, double beta_2,
                    double learning_rate, double epsilon) noexcept nogil

cdef void rmsprop_step(Py_ssize_t n, floating *params, const floating *grads,
                       floating *v, double rho, double learning_rate,
                       double epsilon) noexcept nogil

cdef void sgd_step(Py_ssize_t n, floating *params, const floating *grads,
                   floating *velocity, double learning_rate, double momentum,
                   bint nesterov) noexcept nogil

cdef double l2_gradient(const floating *params, floating *grads,
                        const Py_ssize_t *runs, Py_ssize_t n_runs,
                        double scale) noexcept nogil
