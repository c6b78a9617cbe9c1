# Array utilities shared by the kernel modules: softmax of a row, finiteness.

from cython cimport floating
from libc.math cimport exp, expf, log, logf


cdef extern from "src/array.h":
    bint _all_finite_f "sklstm_all_finite_f"(long n, const float *x) noexcept nogil
    bint _all_finite_d "sklstm_all_finite_d"(long n, const double *x) noexcept nogil
    void _activations_f "sklstm_activations_f"(
        long n, const float *x, float *out, bint sigmoid) noexcept nogil
    void _activations_d "sklstm_activations_d"(
        long n, const double *x, double *out, bint sigmoid) noexcept nogil
    int _widest_isa "sklstm_widest_isa"() noexcept nogil


cdef inline bint all_finite_values(long n, const floating *x) noexcept nogil:
    """Whether the ``n`` contiguous values at ``x`` are all finite."""
    if floating is float:
        return _all_finite_f(n, x)
    else:
        return _all_finite_d(n, x)


cdef inline void softmax_row(Py_ssize_t k, const floating *z, floating *out,
                             bint take_log) noexcept nogil:
    """Softmax of the k values z (or its log) into out, which may be z."""
    cdef Py_ssize_t j
    cdef floating top = z[0], total = 0
    for j in range(1, k):
        if z[j] > top:
            top = z[j]
    if take_log:
        for j in range(k):
            total += (expf(z[j] - top) if floating is float else exp(z[j] - top))
        total = logf(total) if floating is float else log(total)
        for j in range(k):
            out[j] = (z[j] - top) - total
    else:
        for j in range(k):
            out[j] = expf(z[j] - top) if floating is float else exp(z[j] - top)
            total += out[j]
        for j in range(k):
            out[j] /= total
