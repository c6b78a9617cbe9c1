# Matrix products: BLAS through SciPy, and the packed-weight product of
# src/packed.h for weights that every step of a kernel call reuses (BLAS would
# pack them again at each call, a third of its time at these sizes). Also the
# work-space allocation every kernel shares.

from cython cimport floating
from libc.stdlib cimport malloc
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef extern from "src/packed.h":
    int PANEL_BYTES "SKLSTM_PANEL_BYTES"
    long _packed_size_f "sklstm_packed_size_f"(int k, int n) noexcept nogil
    long _packed_size_d "sklstm_packed_size_d"(int k, int n) noexcept nogil
    void _pack_f "sklstm_pack_f"(
        int k, int n, const float *b, long row_stride, long col_stride,
        float *packed) noexcept nogil
    void _pack_d "sklstm_pack_d"(
        int k, int n, const double *b, long row_stride, long col_stride,
        double *packed) noexcept nogil
    void _packed_gemm_f "sklstm_packed_gemm_f"(
        int m, int n, int k, const float *a, long lda, long a_step,
        const float *packed, long packed_k, float *c, int ldc,
        bint accumulate) noexcept nogil
    void _packed_gemm_d "sklstm_packed_gemm_d"(
        int m, int n, int k, const double *a, long lda, long a_step,
        const double *packed, long packed_k, double *c, int ldc,
        bint accumulate) noexcept nogil
    void _column_sums_f "sklstm_column_sums_f"(
        int n_rows, int n, const float *a, long lda, float *sums) noexcept nogil
    void _column_sums_d "sklstm_column_sums_d"(
        int n_rows, int n, const double *a, long lda, double *sums) noexcept nogil


cdef inline void gemm(
    bint trans_a,
    bint trans_b,
    int m,
    int n,
    int k,
    floating alpha,
    const floating *a,
    int lda,
    const floating *b,
    int ldb,
    floating beta,
    floating *c,
    int ldc,
) noexcept nogil:
    """Row-major ``C = alpha * op(A) @ op(B) + beta * C``, ``C`` of shape (m, n).

    BLAS is column-major, and a row-major matrix read column-major is its
    transpose, so the row-major product is the column-major ``C.T = op(B).T @
    op(A).T``: swap the operands, keep the flags.
    """
    cdef char ta = b"T" if trans_a else b"N"
    cdef char tb = b"T" if trans_b else b"N"
    if m <= 0 or n <= 0:
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *> b, &ldb, <float *> a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *> b, &ldb, <double *> a, &lda,
              &beta, c, &ldc)


cdef inline long packed_size(floating *kind, int k, int n) noexcept nogil:
    """Elements of a packed (k, n) weight matrix (``kind`` only picks the type)."""
    if floating is float:
        return _packed_size_f(k, n)
    else:
        return _packed_size_d(k, n)


cdef inline void pack(
    int k,
    int n,
    const floating *b,         # IN B[kk, j] at b[kk * row_stride + j * col_stride]
    long row_stride,
    long col_stride,
    floating *packed,          # OUT packed_size(k, n) elements
) noexcept nogil:
    if floating is float:
        _pack_f(k, n, b, row_stride, col_stride, packed)
    else:
        _pack_d(k, n, b, row_stride, col_stride, packed)


cdef inline void packed_product(
    int m,
    int n,
    int k,
    const floating *a,         # IN (m, k): a[r, kk] at a[r * lda + kk * a_step]
    long lda,
    long a_step,
    const floating *packed,    # IN B (k, n): the first k of packed_k rows (pack)
    long packed_k,
    floating *c,               # OUT (m, n), rows ldc apart: c (+)= a @ B
    int ldc,
    bint accumulate,           # add to c, or overwrite it
) noexcept nogil:
    if floating is float:
        _packed_gemm_f(m, n, k, a, lda, a_step, packed, packed_k, c, ldc, accumulate)
    else:
        _packed_gemm_d(m, n, k, a, lda, a_step, packed, packed_k, c, ldc, accumulate)


cdef inline void column_sums(
    int n_rows,
    int n,
    const floating *a,         # IN (n_rows, n), rows lda apart
    long lda,
    floating *sums,            # IN/OUT (n,): sums += a.sum(axis=0)
) noexcept nogil:
    if floating is float:
        _column_sums_f(n_rows, n, a, lda, sums)
    else:
        _column_sums_d(n_rows, n, a, lda, sums)


cdef inline long rounded(long n_elements) noexcept nogil:
    """``n_elements`` rounded up to whole 128-byte lines (for floats and doubles)."""
    return (n_elements + 31) // 32 * 32


cdef inline void *allocate(long n_elements, size_t itemsize) except NULL:
    """Memory for ``n_elements`` items and a 64-byte alignment (see aligned)."""
    cdef void *raw = malloc(n_elements * itemsize + 64)
    if raw == NULL:
        raise MemoryError()
    return raw


cdef inline void *aligned(void *raw) noexcept nogil:
    """The first 64-byte boundary in memory from :func:`allocate`."""
    return <void *> ((<size_t> raw + 63) & ~(<size_t> 63))
