# The stack kernels' cores, for the kernels that run whole minibatches
# (_epoch): the same work as lstm_stack_forward / lstm_stack_backward, on
# buffers the caller has checked and allocated.

from cython cimport floating


cdef long stack_work_size(floating *kind, int cell, int n_features,
                          const int[::1] units, int batch, int n_threads,
                          bint backward) noexcept nogil

cdef void stack_forward(
    int cell, const int[::1] units, int n_steps, int batch, int n_features,
    const floating *X, const floating *params, const int *batch_sizes,
    floating *activations, const long *offsets, floating *work,
    int n_threads) noexcept nogil

cdef void stack_backward(
    int cell, const int[::1] units, int n_steps, int batch, int n_features,
    const floating *X, const floating *params, const int *batch_sizes,
    floating *activations, floating *d_hiddens, floating *grads,
    const long *offsets, floating *work, int n_threads) noexcept nogil
