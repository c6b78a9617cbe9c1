"""Forward pass and backpropagation through time for LSTM layers.

Only numeric loops live here: the caller allocates every buffer (but a single
sequence's prediction may leave its work space to the kernel), checks every shape
and owns all state. Buffers are time-major, ``(n_timesteps, batch, width)``, so that
the rows of one step form one contiguous block.

Products with the weights (the per-step recurrent product, the input projection,
the weight gradients, the gradient passed to the layer below) go through a small
packed-weight kernel: the weights are packed once per call and reused at every
step, where BLAS would pack them again at each call (a third of its time at these
sizes). The prediction kernel's head uses BLAS. A float32 sequence predicted alone
has a kernel of its own (``_sequence_logits``): its product with one row is bound by
reading the recurrent kernel, so each step keeps its gate sums in vector registers
and reads the weights where they are, unpacked.

Threads split a minibatch by rows (sequences), and each keeps its rows through
every step, every layer and the backward pass, summing its own rows' share of the
weight gradients: on the VMs this project is measured on, memory written on one
core and read on the other crosses a cache line at a time, up to a third of a
microsecond each. ``lstm_forward``/``lstm_backward`` run one layer (and serve
bidirectional layers and dropout); ``lstm_stack_forward``/``lstm_stack_backward``
run a one-directional stack in one call each way.

Gate order in the ``4 * units`` axis is Keras' (and PyTorch's): input, forget, cell
candidate, output.

Sequences of different lengths are packed as PyTorch's ``PackedSequence`` does: the
batch is sorted by decreasing length and ``batch_sizes[t]`` is the number of sequences
still running at step ``t``, so step ``t`` touches only the first ``batch_sizes[t]``
rows. Rows past a sequence's end hold zeros in ``hidden`` and in the gate gradients,
which keeps the all-steps GEMMs exact. A dense batch is ``batch_sizes[:] = batch``.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, expf, log, logf, sqrt, sqrtf
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef inline void _gemm(
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


cdef extern from *:
    """
    #include <math.h>

    /* Double precision keeps libm: exact to the last bits, for gradient checks.
       exp of a non-positive number only: no overflow for large |x|. */
    static inline double sklstm_tanh_d(double x) { return tanh(x); }
    static inline double sklstm_sigmoid_d(double x) {
        if (x >= 0) { return 1 / (1 + exp(-x)); }
        const double e = exp(x);
        return e / (1 + e);
    }

    /* The cells of one step: the elementwise part of the forward and backward,
       over n_rows contiguous rows: the backward for both types and the double
       forward here (the float forward, in vector types, follows). One gate
       block per loop, each loop over contiguous memory with no branch, so that
       GCC vectorises them (one loop over all four gates defeats its dependence
       analysis). GCC on x86-64 Linux also builds AVX-512 and AVX2 clones, chosen
       at load time for the CPU at hand: the default build may only assume SSE2. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)           \
        && defined(__linux__)
    #define SKLSTM_CLONES                                                         \
        __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
    #else
    #define SKLSTM_CLONES
    #endif

    #define SKLSTM_CELLS_FORWARD(T, S)                                            \
    /* z: pre-activations less bias (rows of 4H) -> activated gates;              \
       c_prev: c_{t-1} rows, NULL at the first step (c_{-1} = 0).                 \
       Gate order: input, forget, cell candidate, output. */                      \
    SKLSTM_CLONES static void sklstm_cells_forward_##S(                           \
        int n_rows, int units, T *restrict z, const T *restrict bias,             \
        const T *restrict c_prev, T *restrict c, T *restrict c_tanh,              \
        T *restrict h)                                                            \
    {                                                                             \
        for (int s = 0; s < n_rows; ++s) {                                        \
            T *restrict zi = z + (long)s * 4 * units;                             \
            T *restrict zf = zi + units;                                          \
            T *restrict zg = zi + 2 * units;                                      \
            T *restrict zo = zi + 3 * units;                                      \
            T *restrict cs = c + (long)s * units;                                 \
            T *restrict ct = c_tanh + (long)s * units;                            \
            T *restrict hs = h + (long)s * units;                                 \
            for (int j = 0; j < 2 * units; ++j)                                   \
                zi[j] = sklstm_sigmoid_##S(zi[j] + bias[j]);                      \
            for (int j = 0; j < units; ++j)                                       \
                zg[j] = sklstm_tanh_##S(zg[j] + bias[2 * units + j]);             \
            for (int j = 0; j < units; ++j)                                       \
                zo[j] = sklstm_sigmoid_##S(zo[j] + bias[3 * units + j]);          \
            if (c_prev != NULL) {                                                 \
                const T *restrict cp = c_prev + (long)s * units;                  \
                for (int j = 0; j < units; ++j)                                   \
                    cs[j] = zf[j] * cp[j] + zi[j] * zg[j];                        \
            } else {                                                              \
                for (int j = 0; j < units; ++j)                                   \
                    cs[j] = zi[j] * zg[j];                                        \
            }                                                                     \
            for (int j = 0; j < units; ++j) {                                     \
                ct[j] = sklstm_tanh_##S(cs[j]);                                   \
                hs[j] = zo[j] * ct[j];                                            \
            }                                                                     \
        }                                                                         \
    }
    #define SKLSTM_CELLS_BACKWARD(T, S)                                           \
    /* z: activated gates -> gradients w.r.t. their pre-activations;              \
       c_prev: c_{t-1} rows, NULL at the first step (c_{-1} = 0);                 \
       dc: dL/dc_t from step t + 1 -> dL/dc_{t-1}. */                             \
    SKLSTM_CLONES static void sklstm_cells_backward_##S(                          \
        int n_rows, int units, T *restrict z, const T *restrict c_prev,           \
        const T *restrict c_tanh, const T *restrict dh, T *restrict dc)           \
    {                                                                             \
        for (int s = 0; s < n_rows; ++s) {                                        \
            T *restrict zi = z + (long)s * 4 * units;                             \
            T *restrict zf = zi + units;                                          \
            T *restrict zg = zi + 2 * units;                                      \
            T *restrict zo = zi + 3 * units;                                      \
            const T *restrict ct = c_tanh + (long)s * units;                      \
            const T *restrict dhs = dh + (long)s * units;                         \
            T *restrict dcs = dc + (long)s * units;                               \
            for (int j = 0; j < units; ++j) {                                     \
                const T o = zo[j], tc = ct[j];                                    \
                dcs[j] = dcs[j] + dhs[j] * o * (1 - tc * tc); /* dL/dc_t */       \
                zo[j] = dhs[j] * tc * o * (1 - o);                                \
            }                                                                     \
            for (int j = 0; j < units; ++j) {                                     \
                const T i = zi[j], g = zg[j];                                     \
                zi[j] = dcs[j] * g * i * (1 - i);                                 \
                zg[j] = dcs[j] * i * (1 - g * g);                                 \
            }                                                                     \
            if (c_prev != NULL) {                                                 \
                const T *restrict cp = c_prev + (long)s * units;                  \
                for (int j = 0; j < units; ++j) {                                 \
                    const T f = zf[j];                                            \
                    zf[j] = dcs[j] * cp[j] * f * (1 - f);                         \
                    dcs[j] = dcs[j] * f;                                          \
                }                                                                 \
            } else {                  /* c_{-1} = 0: no forget-gate gradient */   \
                for (int j = 0; j < units; ++j) {                                 \
                    dcs[j] = dcs[j] * zf[j];                                      \
                    zf[j] = 0;                                                    \
                }                                                                 \
            }                                                                     \
        }                                                                         \
    }
    SKLSTM_CELLS_FORWARD(double, d)
    SKLSTM_CELLS_BACKWARD(float, f)
    SKLSTM_CELLS_BACKWARD(double, d)

    /* sums[j] += a[r][j] over rows r: the bias gradient. In Cython the sums
       might alias a, so each addition went through memory, one float at a time
       (8% of a stacked layer's backward); restrict lets GCC vectorise it. */
    #define SKLSTM_COLUMN_SUMS(T, S)                                              \
    SKLSTM_CLONES static void sklstm_column_sums_##S(                             \
        int n_rows, int n, const T *restrict a, long lda, T *restrict sums)       \
    {                                                                             \
        for (int r = 0; r < n_rows; ++r)                                          \
            for (int j = 0; j < n; ++j)                                           \
                sums[j] += a[(long)r * lda + j];                                  \
    }
    SKLSTM_COLUMN_SUMS(float, f)
    SKLSTM_COLUMN_SUMS(double, d)

    /* The float forward: 16 units at a time in vector registers, every gate,
       the cell and the output of a chunk computed in one go (per-gate loops
       spent most of a 32-unit step in loop overhead: a third of a stacked
       layer's forward); the last units % 16 go through the same code on
       zero-padded copies. */
    #if defined(__GNUC__) && !defined(__clang__)
    /* The 64-byte vectors live in always-inlined helpers: no call passes one,
       so GCC's note about the ABI of such calls without AVX-512 does not apply. */
    #pragma GCC diagnostic ignored "-Wpsabi"
    #endif
    typedef float sklstm_v16f __attribute__((vector_size(64), aligned(4)));
    typedef int sklstm_v16i __attribute__((vector_size(64), aligned(4)));
    #define SKLSTM_LOAD16(p) (*(const sklstm_v16f *)(p))
    #define SKLSTM_STORE16(p, v) (*(sklstm_v16f *)(p) = (v))
    /* tanh to 2.4e-7 absolute, as Eigen's float tanh: clamp (NaN passes), then
       a 13/6 rational; plain arithmetic, so no input can overflow. */
    static inline __attribute__((always_inline)) sklstm_v16f
    sklstm_tanh_v16(sklstm_v16f x)
    {
        const sklstm_v16f hi = (sklstm_v16f){0} + 7.90531110763549805f, lo = -hi;
        const sklstm_v16i above = x > hi, below = x < lo;
        sklstm_v16i bits = (sklstm_v16i)x;
        bits = (bits & ~above) | ((sklstm_v16i)hi & above);
        bits = (bits & ~below) | ((sklstm_v16i)lo & below);
        x = (sklstm_v16f)bits;
        const sklstm_v16f x2 = x * x;
        sklstm_v16f p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
        p = p * x2 + -8.60467152213735e-11f;
        p = p * x2 + 5.12229709037114e-08f;
        p = p * x2 + 1.48572235717979e-05f;
        p = p * x2 + 6.37261928875436e-04f;
        p = p * x2 + 4.89352455891786e-03f;
        sklstm_v16f q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
        q = q * x2 + 2.26843463243900e-03f;
        q = q * x2 + 4.89352518554385e-03f;
        return x * p / q;
    }
    static inline __attribute__((always_inline)) sklstm_v16f
    sklstm_sigmoid_v16(sklstm_v16f x)
    {
        return 0.5f * sklstm_tanh_v16(0.5f * x) + 0.5f;
    }
    /* 16 units of one row: z holds the four gates `units` apart (in place),
       bias likewise; c_prev is NULL at the first step. */
    static inline __attribute__((always_inline)) void
    sklstm_cells_chunk_f(int units, float *z, const float *bias,
                         const float *c_prev, float *c, float *c_tanh, float *h)
    {
        const sklstm_v16f i = sklstm_sigmoid_v16(SKLSTM_LOAD16(z)
                                                 + SKLSTM_LOAD16(bias));
        const sklstm_v16f f = sklstm_sigmoid_v16(SKLSTM_LOAD16(z + units)
                                                 + SKLSTM_LOAD16(bias + units));
        const sklstm_v16f g = sklstm_tanh_v16(SKLSTM_LOAD16(z + 2 * units)
                                              + SKLSTM_LOAD16(bias + 2 * units));
        const sklstm_v16f o = sklstm_sigmoid_v16(SKLSTM_LOAD16(z + 3 * units)
                                                 + SKLSTM_LOAD16(bias + 3 * units));
        SKLSTM_STORE16(z, i);
        SKLSTM_STORE16(z + units, f);
        SKLSTM_STORE16(z + 2 * units, g);
        SKLSTM_STORE16(z + 3 * units, o);
        const sklstm_v16f cell = c_prev ? f * SKLSTM_LOAD16(c_prev) + i * g : i * g;
        const sklstm_v16f tc = sklstm_tanh_v16(cell);
        SKLSTM_STORE16(c, cell);
        SKLSTM_STORE16(c_tanh, tc);
        SKLSTM_STORE16(h, o * tc);
    }
    SKLSTM_CLONES static void sklstm_cells_forward_f(
        int n_rows, int units, float *restrict z, const float *restrict bias,
        const float *restrict c_prev, float *restrict c, float *restrict c_tanh,
        float *restrict h)
    {
        const int whole = units - units % 16, rest = units % 16;
        /* The last units of every row, padded to a chunk: gates and bias 16
           apart, then the previous cell; the outputs after them. */
        float zt[64], bt[64], pt[16], ct[16], tt[16], ht[16];
        for (int k = 0; k < 4; ++k)
            for (int j = 0; j < 16; ++j)
                bt[16 * k + j] = j < rest ? bias[k * units + whole + j] : 0;
        for (int s = 0; s < n_rows; ++s) {
            float *restrict zs = z + (long)s * 4 * units;
            const float *restrict cp = c_prev ? c_prev + (long)s * units : NULL;
            float *restrict cs = c + (long)s * units;
            float *restrict ts = c_tanh + (long)s * units;
            float *restrict hs = h + (long)s * units;
            for (int j = 0; j < whole; j += 16)
                sklstm_cells_chunk_f(units, zs + j, bias + j, cp ? cp + j : NULL,
                                     cs + j, ts + j, hs + j);
            if (rest == 0)
                continue;
            for (int k = 0; k < 4; ++k)
                for (int j = 0; j < 16; ++j)
                    zt[16 * k + j] = j < rest ? zs[k * units + whole + j] : 0;
            for (int j = 0; j < 16; ++j)
                pt[j] = cp && j < rest ? cp[whole + j] : 0;
            sklstm_cells_chunk_f(16, zt, bt, cp ? pt : NULL, ct, tt, ht);
            for (int j = 0; j < rest; ++j) {
                for (int k = 0; k < 4; ++k)
                    zs[k * units + whole + j] = zt[16 * k + j];
                cs[whole + j] = ct[j];
                ts[whole + j] = tt[j];
                hs[whole + j] = ht[j];
            }
        }
    }

    /* Products with a weight matrix that every step of a call reuses. BLAS
       packs its operands again at each call (a third of its time for one step's
       product at these sizes); here the weights are packed once per kernel call,
       into panels of SKLSTM_PANEL_BYTES of columns that run contiguously down
       the k rows, and a block of output rows x panels is summed in registers
       while its panels stream from cache. Panels past n are zero. */
    #define SKLSTM_PANEL_BYTES 128

    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)           \
        && defined(__linux__)
    #define SKLSTM_X86_DISPATCH 1
    #define SKLSTM_AVX512 __attribute__((target("avx512f,fma")))
    #define SKLSTM_AVX2 __attribute__((target("avx2,fma")))
    #else
    #define SKLSTM_X86_DISPATCH 0
    #endif
    /* The widest kernel the dispatch may pick (2: AVX-512, 1: AVX2, 0: the
       baseline), lowered by tests to run the others on any machine. */
    static int sklstm_widest_kernel = 2;
    /* The widest instruction set the machine runs and the cap allows. */
    static int sklstm_widest_isa(void)
    {
    #if SKLSTM_X86_DISPATCH
        if (sklstm_widest_kernel >= 2 && __builtin_cpu_supports("avx512f"))
            return 2;
        if (sklstm_widest_kernel >= 1 && __builtin_cpu_supports("avx2")
            && __builtin_cpu_supports("fma"))
            return 1;
    #endif
        return 0;
    }

    /* NAME_avx512SUFFIX ARGS, or the AVX2 or baseline one, as sklstm_widest_isa
       says. */
    #if SKLSTM_X86_DISPATCH
    #define SKLSTM_DISPATCH(NAME, SUFFIX, ARGS)                                   \
        switch (sklstm_widest_isa()) {                                            \
        case 2: NAME##_avx512##SUFFIX ARGS; break;                                \
        case 1: NAME##_avx2##SUFFIX ARGS; break;                                  \
        default: NAME##_base##SUFFIX ARGS;                                        \
        }
    #else
    #define SKLSTM_DISPATCH(NAME, SUFFIX, ARGS) NAME##_base##SUFFIX ARGS;
    #endif

    #define SKLSTM_PACK(T, S)                                                     \
    static long sklstm_packed_size_##S(int k, int n)                              \
    {                                                                             \
        const int nr = SKLSTM_PANEL_BYTES / sizeof(T);                            \
        return (long)((n + nr - 1) / nr) * nr * k;                                \
    }                                                                             \
    /* Pack B[kk][j] = b[kk * row_stride + j * col_stride]: b, or b.T. */         \
    SKLSTM_CLONES static void sklstm_pack_##S(int k, int n, const T *restrict b,  \
                                              long row_stride, long col_stride,   \
                                              T *restrict packed)                 \
    {                                                                             \
        enum { NR = SKLSTM_PANEL_BYTES / sizeof(T) };                             \
        const int full = n / NR, cols = n - full * NR;                            \
        if (col_stride == 1) {          /* B's rows are contiguous in b */        \
            for (int p = 0; p < full; ++p)                                        \
                for (int kk = 0; kk < k; ++kk) {                                  \
                    const T *restrict in = b + kk * row_stride + p * NR;          \
                    T *restrict out = packed + ((long)p * k + kk) * NR;           \
                    for (int j = 0; j < NR; ++j) out[j] = in[j];                  \
                }                                                                 \
            for (int kk = 0; kk < k && cols > 0; ++kk) {                          \
                const T *restrict in = b + kk * row_stride + full * NR;           \
                T *restrict out = packed + ((long)full * k + kk) * NR;            \
                for (int j = 0; j < NR; ++j) out[j] = j < cols ? in[j] : 0;       \
            }                                                                     \
        } else {                        /* B's columns are: read b in order */    \
            for (int j = 0; j < n; ++j) {                                         \
                const T *restrict in = b + j * col_stride;                        \
                T *restrict out = packed + (long)(j / NR) * k * NR + j % NR;      \
                for (int kk = 0; kk < k; ++kk)                                    \
                    out[(long)kk * NR] = in[kk * row_stride];                     \
            }                                                                     \
            for (int kk = 0; kk < k && cols > 0; ++kk)    /* zero the padding */  \
                for (int j = cols; j < NR; ++j)                                   \
                    packed[((long)full * k + kk) * NR + j] = 0;                   \
        }                                                                         \
    }

    /* One instruction set's kernel: vectors of BYTES, blocks of up to MR rows.
       A block of R > 1 rows takes MR / R panels at once, so that every block
       keeps MR * (panel vectors) independent sums: enough to hide the latency of
       the multiply-adds, few enough to stay in registers. A single row is bound
       by loading the panels (each element is used once) and streams one panel
       at a time, which the prefetcher follows best: 1.6x faster than eight at
       once for 256 units (measured). */
    #define SKLSTM_PACKED_GEMM(T, S, ISA, TARGET, BYTES, MR)                      \
    typedef T sklstm_vec_##ISA##_##S                                              \
        __attribute__((vector_size(BYTES), aligned(sizeof(T))));                  \
    TARGET static inline __attribute__((always_inline)) void                      \
    sklstm_block_##ISA##_##S(const int R, const int NP, int k,                    \
                             const T *restrict a, long lda, long a_step,          \
                             const T *restrict panels, long panel_stride,         \
                             T *restrict c, int ldc, int accumulate)              \
    {                                                                             \
        typedef sklstm_vec_##ISA##_##S vec;                                       \
        enum { NV = SKLSTM_PANEL_BYTES / BYTES, LANES = BYTES / sizeof(T),        \
               NR = SKLSTM_PANEL_BYTES / sizeof(T) };                             \
        vec acc[MR][MR * NV], b[MR * NV];                                         \
        for (int r = 0; r < R; ++r)                                               \
            for (int v = 0; v < NP * NV; ++v)                                     \
                acc[r][v] = accumulate                                            \
                    ? *(const vec *)(c + (long)r * ldc + v * LANES) : (vec){0};   \
        for (int kk = 0; kk < k; ++kk) {                                          \
            for (int v = 0; v < NP * NV; ++v)                                     \
                b[v] = *(const vec *)(panels + (v / NV) * panel_stride            \
                                      + (long)kk * NR + (v % NV) * LANES);        \
            for (int r = 0; r < R; ++r) {                                         \
                const T ar = a[r * lda + kk * a_step];                            \
                for (int v = 0; v < NP * NV; ++v)                                 \
                    acc[r][v] += ar * b[v];                                       \
            }                                                                     \
        }                                                                         \
        for (int r = 0; r < R; ++r)                                               \
            for (int v = 0; v < NP * NV; ++v)                                     \
                *(vec *)(c + (long)r * ldc + v * LANES) = acc[r][v];              \
    }                                                                             \
    /* R rows of c (+)= a @ B: whole panels in groups, then a partial last        \
       panel through a staging tile. */                                           \
    TARGET static inline __attribute__((always_inline)) void                      \
    sklstm_rows_##ISA##_##S(const int R, int n, int k, const T *restrict a,       \
                            long lda, long a_step, const T *restrict packed,      \
                            long packed_k, T *restrict c, int ldc,                \
                            int accumulate)                                       \
    {                                                                             \
        enum { NR = SKLSTM_PANEL_BYTES / sizeof(T) };                             \
        const int NP = R == 1 ? 1 : MR / R;                                       \
        const int full = n / NR, cols = n - full * NR;                            \
        const long stride = packed_k * NR;                                        \
        int p = 0;                                                                \
        for (; p + NP <= full; p += NP)                                           \
            sklstm_block_##ISA##_##S(R, NP, k, a, lda, a_step,                    \
                                     packed + p * stride,                         \
                                     stride, c + p * NR, ldc, accumulate);        \
        for (; p < full; ++p)                                                     \
            sklstm_block_##ISA##_##S(R, 1, k, a, lda, a_step,                     \
                                     packed + p * stride,                         \
                                     stride, c + p * NR, ldc, accumulate);        \
        if (cols > 0) {                                                           \
            T tile[MR * NR];                                                      \
            for (int r = 0; r < R; ++r)                                           \
                for (int j = 0; j < NR; ++j)                                      \
                    tile[r * NR + j] = accumulate && j < cols                     \
                        ? c[(long)r * ldc + full * NR + j] : 0;                   \
            sklstm_block_##ISA##_##S(R, 1, k, a, lda, a_step,                     \
                                     packed + full * stride,                      \
                                     stride, tile, NR, 1);                        \
            for (int r = 0; r < R; ++r)                                           \
                for (int j = 0; j < cols; ++j)                                    \
                    c[(long)r * ldc + full * NR + j] = tile[r * NR + j];          \
        }                                                                         \
    }                                                                             \
    TARGET static void sklstm_packed_gemm_##ISA##_##S(                            \
        int m, int n, int k, const T *restrict a, long lda, long a_step,          \
        const T *restrict packed, long packed_k, T *restrict c, int ldc,          \
        int accumulate)                                                           \
    {                                                                             \
        int i = 0;                                                                \
        for (; i + MR <= m; i += MR)                                              \
            sklstm_rows_##ISA##_##S(MR, n, k, a + i * lda, lda, a_step,           \
                                    packed, packed_k, c + (long)i * ldc, ldc,     \
                                    accumulate);                                  \
        if (MR > 4 && i + 4 <= m) {                                               \
            sklstm_rows_##ISA##_##S(4, n, k, a + i * lda, lda, a_step,            \
                                    packed, packed_k, c + (long)i * ldc, ldc,     \
                                    accumulate);                                  \
            i += 4;                                                               \
        }                                                                         \
        if (MR > 2 && i + 2 <= m) {                                               \
            sklstm_rows_##ISA##_##S(2, n, k, a + i * lda, lda, a_step,            \
                                    packed, packed_k, c + (long)i * ldc, ldc,     \
                                    accumulate);                                  \
            i += 2;                                                               \
        }                                                                         \
        for (; i < m; ++i)                                                        \
            sklstm_rows_##ISA##_##S(1, n, k, a + i * lda, lda, a_step,            \
                                    packed, packed_k, c + (long)i * ldc, ldc,     \
                                    accumulate);                                  \
    }

    /* c = a @ B, or c += a @ B with accumulate; a (m, k) with a[r][kk] at
       a[r * lda + kk * a_step] (a row-major matrix, or the transpose of one),
       c (m, n) rows ldc apart, B the first k rows of a matrix of packed_k rows
       packed by sklstm_pack. */
    #if SKLSTM_X86_DISPATCH
    #define SKLSTM_PACKED_PRODUCT(T, S)                                           \
    SKLSTM_PACK(T, S)                                                             \
    SKLSTM_PACKED_GEMM(T, S, avx512, SKLSTM_AVX512, 64, 8)                        \
    SKLSTM_PACKED_GEMM(T, S, avx2, SKLSTM_AVX2, 32, 3)                            \
    SKLSTM_PACKED_GEMM(T, S, base, , 16, 1)                                       \
    static void sklstm_packed_gemm_##S(int m, int n, int k, const T *a, long lda, \
                                       long a_step, const T *packed,              \
                                       long packed_k, T *c, int ldc,              \
                                       int accumulate)                            \
    {                                                                             \
        SKLSTM_DISPATCH(sklstm_packed_gemm, _##S, (m, n, k, a, lda, a_step,      \
                        packed, packed_k, c, ldc, accumulate))                    \
    }
    #else
    #define SKLSTM_PACKED_PRODUCT(T, S)                                           \
    SKLSTM_PACK(T, S)                                                             \
    SKLSTM_PACKED_GEMM(T, S, base, , 16, 1)                                       \
    static void sklstm_packed_gemm_##S(int m, int n, int k, const T *a, long lda, \
                                       long a_step, const T *packed,              \
                                       long packed_k, T *c, int ldc,              \
                                       int accumulate)                            \
    {                                                                             \
        sklstm_packed_gemm_base_##S(m, n, k, a, lda, a_step, packed, packed_k,    \
                                    c, ldc, accumulate);                          \
    }
    #endif
    SKLSTM_PACKED_PRODUCT(float, f)
    SKLSTM_PACKED_PRODUCT(double, d)

    /* One sequence's recurrence (a prediction of one sequence): its h @ U is a
       product with one row, bound by reading U (64 KiB for 64 units) from L2
       at every step. Here each step runs in vector registers: G blocks of 16
       units take their four gates' sums (the step's input projection and bias
       to start with) down the rows of U in Keras' own layout, unpacked, and
       update their cells on the spot; no pre-activation goes through memory.
       Every other step reads U's rows in reverse order, starting on those the
       previous step left in L1 (small model: 19.6 -> 16.3 us for 30 steps,
       measured in a probe). Gates are `padded` (units rounded up to 16) apart:
       U, proj and out have zero columns past `units`, which keep zero cells
       and outputs. */
    #define SKLSTM_RECURRENCE(ISA, TARGET, G)                                     \
    /* acc[q][g] += x[k] * rows[k][q * padded + 16 g] over the n rows k (ld     \
       apart), from the last row backwards if asked. */                          \
    TARGET static inline __attribute__((always_inline)) void                      \
    sklstm_gate_sums_##ISA(const int NB, int n, const float *restrict x,          \
                           const float *restrict rows, long ld, int padded,       \
                           int backwards, sklstm_v16f acc[4][G])                  \
    {                                                                             \
        /* A pointer a gate: offsets from one base took more registers than    \
           GCC had, and it reloaded them from the stack at every row. */         \
        const float *restrict r0 = backwards ? rows + (long)(n - 1) * ld : rows;  \
        const float *restrict r1 = r0 + padded, *restrict r2 = r0 + 2 * padded;   \
        const float *restrict r3 = r0 + 3 * padded;                               \
        const float *restrict xk = backwards ? x + n - 1 : x;                     \
        const long row_step = backwards ? -ld : ld, x_step = backwards ? -1 : 1;  \
        for (int k = 0; k < n; ++k) {                                             \
            const float a = *xk;                                                  \
            for (int g = 0; g < NB; ++g) {                                        \
                acc[0][g] += a * SKLSTM_LOAD16(r0 + 16 * g);                      \
                acc[1][g] += a * SKLSTM_LOAD16(r1 + 16 * g);                      \
                acc[2][g] += a * SKLSTM_LOAD16(r2 + 16 * g);                      \
                acc[3][g] += a * SKLSTM_LOAD16(r3 + 16 * g);                      \
            }                                                                     \
            r0 += row_step;                                                       \
            r1 += row_step;                                                       \
            r2 += row_step;                                                       \
            r3 += row_step;                                                       \
            xk += x_step;                                                         \
        }                                                                         \
    }                                                                             \
    /* NB blocks of 16 units from unit u: the four gates' sums, from `init`     \
       plus x @ rows (n_parts runs of part_width values of x, part_stride       \
       apart, against consecutive runs of rows); then either stored to out      \
       (PROJECT) or taken through the cells' update (c, and h to out). */       \
    TARGET static inline __attribute__((always_inline)) void                      \
    sklstm_unit_group_##ISA(const int NB, const int PROJECT, int u, int padded,   \
                            const float *restrict init, int n_parts,              \
                            int part_width, const float *restrict x,              \
                            long part_stride, const float *restrict rows,         \
                            int backwards, float *restrict c,                     \
                            float *restrict out)                                  \
    {                                                                             \
        sklstm_v16f acc[4][G];                                                    \
        const long ld = 4L * padded;                                              \
        for (int q = 0; q < 4; ++q)                                               \
            for (int g = 0; g < NB; ++g)                                          \
                acc[q][g] = SKLSTM_LOAD16(init + q * padded + u + 16 * g);        \
        for (int p = 0; p < n_parts; ++p)                                         \
            sklstm_gate_sums_##ISA(NB, part_width, x + p * part_stride,           \
                                   rows + p * part_width * ld + u, ld, padded,    \
                                   backwards, acc);                               \
        for (int g = 0; g < NB; ++g) {                                            \
            if (PROJECT) {                                                        \
                for (int q = 0; q < 4; ++q)                                       \
                    SKLSTM_STORE16(out + q * padded + u + 16 * g, acc[q][g]);     \
                continue;                                                         \
            }                                                                     \
            const sklstm_v16f i = sklstm_sigmoid_v16(acc[0][g]);                  \
            const sklstm_v16f f = sklstm_sigmoid_v16(acc[1][g]);                  \
            const sklstm_v16f cand = sklstm_tanh_v16(acc[2][g]);                  \
            const sklstm_v16f o = sklstm_sigmoid_v16(acc[3][g]);                  \
            const sklstm_v16f cell = f * SKLSTM_LOAD16(c + u + 16 * g)            \
                                     + i * cand;                                  \
            SKLSTM_STORE16(c + u + 16 * g, cell);                                 \
            SKLSTM_STORE16(out + u + 16 * g, o * sklstm_tanh_v16(cell));          \
        }                                                                         \
    }                                                                             \
    /* Every unit block, G at a time: NB is a constant in each call, so that   \
       the sums stay in registers. */                                            \
    TARGET static inline __attribute__((always_inline)) void                      \
    sklstm_unit_groups_##ISA(const int PROJECT, int padded, const float *init,    \
                             int n_parts, int part_width, const float *x,         \
                             long part_stride, const float *rows, int backwards,  \
                             float *c, float *out)                                \
    {                                                                             \
        int u = 0;                                                                \
        for (; u + 16 * G <= padded; u += 16 * G)                                 \
            sklstm_unit_group_##ISA(G, PROJECT, u, padded, init, n_parts,         \
                                    part_width, x, part_stride, rows, backwards,  \
                                    c, out);                                      \
        const int rest = (padded - u) / 16;     /* fewer than G blocks */        \
        if (rest == 3)                                                            \
            sklstm_unit_group_##ISA(G > 3 ? 3 : 1, PROJECT, u, padded, init,      \
                                    n_parts, part_width, x, part_stride, rows,    \
                                    backwards, c, out);                           \
        else if (rest == 2)                                                       \
            sklstm_unit_group_##ISA(G > 2 ? 2 : 1, PROJECT, u, padded, init,      \
                                    n_parts, part_width, x, part_stride, rows,    \
                                    backwards, c, out);                           \
        else if (rest == 1)                                                       \
            sklstm_unit_group_##ISA(1, PROJECT, u, padded, init, n_parts,         \
                                    part_width, x, part_stride, rows, backwards,  \
                                    c, out);                                      \
    }                                                                             \
    TARGET static void sklstm_recurrence_##ISA(                                   \
        int n_steps, int units, int padded, const float *proj, const float *U,   \
        int reverse, float *out, long ldo, const float *h0, float *c)            \
    {                                                                             \
        const float *h = h0;                                                      \
        for (int j = 0; j < padded; ++j) c[j] = 0;                                \
        for (int s = 0; s < n_steps; ++s) {                                       \
            const int t = reverse ? n_steps - 1 - s : s;                          \
            sklstm_unit_groups_##ISA(0, padded, proj + (long)t * 4 * padded, 1,   \
                                     units, h, 0, U, s & 1, c,                    \
                                     out + (long)t * ldo);                        \
            h = out + (long)t * ldo;                                              \
        }                                                                         \
    }                                                                             \
    /* proj[t] = bias + the step's input @ W for every step, W's rows 4 padded  \
       apart: for a W that stays in L1 from step to step, read where it is      \
       (packing it and a product by blocks of steps took 2 of the small model's \
       21 us). */                                                                \
    TARGET static void sklstm_project_##ISA(                                      \
        int n_steps, int n_parts, int part_width, const float *x, long ldx,       \
        long part_stride, const float *W, const float *bias, int padded,          \
        float *proj)                                                              \
    {                                                                             \
        for (int t = 0; t < n_steps; ++t)                                         \
            sklstm_unit_groups_##ISA(1, padded, bias, n_parts, part_width,        \
                                     x + (long)t * ldx, part_stride, W, 0, NULL,  \
                                     proj + (long)t * 4 * padded);                \
    }

    /* G unit blocks a group, 4 G sums in registers: AVX-512 4 blocks (16 of
       its 32 registers), AVX2 one (8 of its 16: a 16-float vector takes two). */
    #if SKLSTM_X86_DISPATCH
    SKLSTM_RECURRENCE(avx512, SKLSTM_AVX512, 4)
    SKLSTM_RECURRENCE(avx2, SKLSTM_AVX2, 1)
    #endif
    SKLSTM_RECURRENCE(base, , 1)
    static void sklstm_recurrence_f(int n_steps, int units, int padded,
                                    const float *proj, const float *U, int reverse,
                                    float *out, long ldo, const float *h0, float *c)
    {
        SKLSTM_DISPATCH(sklstm_recurrence, , (n_steps, units, padded, proj, U,
                        reverse, out, ldo, h0, c))
    }
    static void sklstm_project_f(int n_steps, int n_parts, int part_width,
                                 const float *x, long ldx, long part_stride,
                                 const float *W, const float *bias, int padded,
                                 float *proj)
    {
        SKLSTM_DISPATCH(sklstm_project, , (n_steps, n_parts, part_width, x, ldx,
                        part_stride, W, bias, padded, proj))
    }
    """
    int _widest_kernel "sklstm_widest_kernel"
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
    void _cells_forward_f "sklstm_cells_forward_f"(
        int n_rows, int units, float *z, const float *bias, const float *c_prev,
        float *c, float *c_tanh, float *h) noexcept nogil
    void _cells_forward_d "sklstm_cells_forward_d"(
        int n_rows, int units, double *z, const double *bias, const double *c_prev,
        double *c, double *c_tanh, double *h) noexcept nogil
    void _cells_backward_f "sklstm_cells_backward_f"(
        int n_rows, int units, float *z, const float *c_prev,
        const float *c_tanh, const float *dh, float *dc) noexcept nogil
    void _cells_backward_d "sklstm_cells_backward_d"(
        int n_rows, int units, double *z, const double *c_prev,
        const double *c_tanh, const double *dh, double *dc) noexcept nogil
    void _column_sums_f "sklstm_column_sums_f"(
        int n_rows, int n, const float *a, long lda, float *sums) noexcept nogil
    void _column_sums_d "sklstm_column_sums_d"(
        int n_rows, int n, const double *a, long lda, double *sums) noexcept nogil
    void _recurrence_f "sklstm_recurrence_f"(
        int n_steps, int units, int padded, const float *proj, const float *U,
        bint reverse, float *out, long ldo, const float *h0, float *c) noexcept nogil
    void _project_f "sklstm_project_f"(
        int n_steps, int n_parts, int part_width, const float *x, long ldx,
        long part_stride, const float *W, const float *bias, int padded,
        float *proj) noexcept nogil


cdef inline long _packed_size(floating *kind, int k, int n) noexcept nogil:
    """Elements of a packed (k, n) weight matrix (``kind`` only picks the type)."""
    if floating is float:
        return _packed_size_f(k, n)
    else:
        return _packed_size_d(k, n)


cdef inline long _layer_packed_size(floating *kind, int n_inputs,
                                    int units) noexcept nogil:
    """Elements of a layer's packed recurrent kernel and kernel (_layer_forward)."""
    return _packed_size(kind, units, 4 * units) + _packed_size(kind, n_inputs,
                                                               4 * units)


cdef inline long _forward_work(floating *kind, int n_inputs, int units,
                               int n_threads) noexcept nogil:
    """Elements of _layer_forward's work space: a packed layer per thread."""
    return (<long> min(max(n_threads, 1), <int> MAX_CHUNKS)
            * _layer_packed_size(kind, n_inputs, units))


cdef inline void _pack(
    int k,
    int n,
    const floating *b,         # IN B[kk, j] at b[kk * row_stride + j * col_stride]
    long row_stride,
    long col_stride,
    floating *packed,          # OUT _packed_size(k, n) elements
) noexcept nogil:
    if floating is float:
        _pack_f(k, n, b, row_stride, col_stride, packed)
    else:
        _pack_d(k, n, b, row_stride, col_stride, packed)


cdef inline floating *_pack_layer(
    int n_inputs,
    int units,
    const floating *kernel,              # IN (D, 4H)
    const floating *recurrent_kernel,    # IN (H, 4H)
    floating *packed,                    # OUT _layer_packed_size(D, H) elements
) noexcept nogil:
    """Pack a layer's recurrent kernel, then its kernel; return the packed kernel.

    Every step multiplies by the recurrent kernel, and the input projection by
    the kernel: packed once per call (BLAS would pack them again at each step).
    """
    cdef floating *packed_kernel = packed + _packed_size(packed, units, 4 * units)
    _pack(units, 4 * units, recurrent_kernel, 4 * units, 1, packed)
    _pack(n_inputs, 4 * units, kernel, 4 * units, 1, packed_kernel)
    return packed_kernel


cdef inline void _packed_product(
    int m,
    int n,
    int k,
    const floating *a,         # IN (m, k): a[r, kk] at a[r * lda + kk * a_step]
    long lda,
    long a_step,
    const floating *packed,    # IN B (k, n): the first k of packed_k rows (_pack)
    long packed_k,
    floating *c,               # OUT (m, n), rows ldc apart: c (+)= a @ B
    int ldc,
    bint accumulate,           # add to c, or overwrite it
) noexcept nogil:
    if floating is float:
        _packed_gemm_f(m, n, k, a, lda, a_step, packed, packed_k, c, ldc, accumulate)
    else:
        _packed_gemm_d(m, n, k, a, lda, a_step, packed, packed_k, c, ldc, accumulate)


cdef inline void _column_sums(
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


cdef void *_allocate(long n_elements, size_t itemsize) except NULL:
    """Memory for ``n_elements`` items and a 64-byte alignment (see _aligned)."""
    cdef void *raw = malloc(n_elements * itemsize + 64)
    if raw == NULL:
        raise MemoryError()
    return raw


cdef inline void *_aligned(void *raw) noexcept nogil:
    """The first 64-byte boundary in memory from :func:`_allocate`."""
    return <void *> ((<size_t> raw + 63) & ~(<size_t> 63))


cdef inline void _cells_forward(
    int n_rows,
    int units,
    floating *z,               # IN pre-activations less bias (n, 4H); OUT activated
    const floating *bias,      # IN (4H,)
    const floating *c_prev,    # IN (n, H) c_{t-1}; NULL at the first step
    floating *c,               # OUT (n, H)
    floating *c_tanh,          # OUT (n, H)
    floating *h,               # OUT (n, H)
) noexcept nogil:
    if floating is float:
        _cells_forward_f(n_rows, units, z, bias, c_prev, c, c_tanh, h)
    else:
        _cells_forward_d(n_rows, units, z, bias, c_prev, c, c_tanh, h)


cdef inline void _cells_backward(
    int n_rows,
    int units,
    floating *z,               # IN activated gates (n, 4H); OUT their gradients
    const floating *c_prev,    # IN (n, H) c_{t-1}; NULL at the first step
    const floating *c_tanh,    # IN (n, H)
    const floating *dh,        # IN dL/dh_t (n, H)
    floating *dc,              # IN dL/dc_t from step t + 1; OUT dL/dc_{t-1}
) noexcept nogil:
    if floating is float:
        _cells_backward_f(n_rows, units, z, c_prev, c_tanh, dh, dc)
    else:
        _cells_backward_d(n_rows, units, z, c_prev, c_tanh, dh, dc)


cdef enum:
    # Upper bound on the threads one kernel call splits its work over.
    MAX_CHUNKS = 64
    # Column blocks of the weight gradients start at multiples of this many
    # elements (whole panels of the packed product, for floats and doubles).
    COLUMN_ALIGN = 32
    # Rows of dL/dz the weight gradients take at a time (a 16 KiB panel of floats).
    ROW_BLOCK = 128
    # Elementwise operations of one cell step per unit, counted as flops.
    CELL_FLOPS = 40


# The least work (floating-point operations) worth a thread of its own.
cdef double MIN_CHUNK_FLOPS = 2e6


cdef extern from *:
    """
    #if defined(__unix__) || defined(__APPLE__)
    #include <time.h>
    /* CPU time of the calling thread, and a monotonic wall clock (seconds). */
    static double sklstm_thread_seconds(void) {
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    }
    static double sklstm_wall_seconds(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    }
    #define SKLSTM_HAS_CLOCKS 1
    #else
    static double sklstm_thread_seconds(void) { return 0; }
    static double sklstm_wall_seconds(void) { return 0; }
    #define SKLSTM_HAS_CLOCKS 0
    #endif
    """
    double _thread_seconds "sklstm_thread_seconds"() noexcept nogil
    double _wall_seconds "sklstm_wall_seconds"() noexcept nogil
    bint HAS_CLOCKS "SKLSTM_HAS_CLOCKS"


# When another process keeps a core busy, an OpenMP thread loses its core for a
# scheduler time slice (milliseconds) and every region it is part of ends that
# much later: splitting short work then makes it many times slower. Each split
# region compares its threads' CPU time with its wall time; after CONTENDED_LIMIT
# regions in a row whose threads spent most of it waiting, kernels run on one
# thread for BACKOFF_SECONDS, then try again. The backoff is short because the
# busy neighbour is often transient (another library's threads spinning for a
# while after their own work), and each probe of a lasting one costs little.
cdef double BACKOFF_SECONDS = 0.1
cdef int CONTENDED_LIMIT = 2
cdef int _contended_in_a_row = 0
# Below this wall time a region is too short for its timing to mean anything.
cdef double MIN_TIMED_SECONDS = 20e-6
cdef double _serial_until = 0
# Regions split between threads so far (read by tests through _tuning).
cdef long _split_regions = 0


cdef inline bint _backing_off() noexcept nogil:
    return HAS_CLOCKS and _wall_seconds() < _serial_until


cdef void _check_contention(const double *busy, int n_chunks, int team,
                            double started) noexcept nogil:
    """After a split region: back off if its threads were mostly kept waiting."""
    global _serial_until, _split_regions, _contended_in_a_row
    cdef double wall, total = 0
    cdef int c
    if team < 2:
        return
    _split_regions += 1
    if not HAS_CLOCKS:
        return
    wall = _wall_seconds() - started
    for c in range(n_chunks):
        total += busy[c]
    if wall > MIN_TIMED_SECONDS and total < 0.5 * team * wall:
        _contended_in_a_row += 1
        if _contended_in_a_row >= CONTENDED_LIMIT:
            _serial_until = _wall_seconds() + BACKOFF_SECONDS
            _contended_in_a_row = 0
    else:
        _contended_in_a_row = 0


cdef inline double _clock_if_split(int team) noexcept nogil:
    """The wall clock at the start of a region, read only if threads split it.

    Only split regions are checked for contention, and on a VM whose clock has
    no vDSO path every read is a system call (~0.5 µs here): the clock reads of
    one-thread regions were a third of a single-sequence prediction's kernel.
    """
    return _wall_seconds() if team > 1 else 0


cdef inline double _thread_clock_if_split(int team) noexcept nogil:
    """A thread's CPU time in a region, read only if threads split it."""
    return _thread_seconds() if team > 1 else 0


def _tuning(min_chunk_flops=None, backoff_seconds=None):
    """Read, or set, how the kernels split work (for tests and benchmarks).

    Returns the previous ``(min_chunk_flops, backoff_seconds, split_regions)``;
    setting ``backoff_seconds`` also ends a running backoff.
    """
    global MIN_CHUNK_FLOPS, BACKOFF_SECONDS, _serial_until
    old = (MIN_CHUNK_FLOPS, BACKOFF_SECONDS, _split_regions)
    if min_chunk_flops is not None:
        MIN_CHUNK_FLOPS = min_chunk_flops
    if backoff_seconds is not None:
        BACKOFF_SECONDS = backoff_seconds
        _serial_until = 0
    return old


def _limit_kernels(int widest):
    """Cap the per-step product's instruction set (2: AVX-512, 1: AVX2, 0: none).

    For tests: each machine runs the widest kernel it supports, so the others
    are only exercised with a cap. Returns the previous cap.
    """
    global _widest_kernel
    old = _widest_kernel
    _widest_kernel = widest
    return old


def _back_off_now():
    """Start a backoff as if a region had just been kept waiting (for tests)."""
    global _serial_until
    _serial_until = _wall_seconds() + BACKOFF_SECONDS


cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int sklstm_openmp_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int sklstm_openmp_max_threads(void) { return 1; }
    #endif
    """
    int _openmp_max_threads "sklstm_openmp_max_threads"() noexcept nogil


def openmp_max_threads():
    """Threads an OpenMP region may use now; 1 if built without OpenMP.

    It follows ``OMP_NUM_THREADS``, ``threadpoolctl``'s limits and the limits
    joblib sets in its workers.
    """
    return _openmp_max_threads()


cdef int _row_chunks(
    const int *batch_sizes, int n_steps, int batch, int n_chunks, int *bounds
) noexcept nogil:
    """Split the rows into ``n_chunks`` contiguous ranges of equal work.

    A row's work is its number of running steps (rows are sorted by decreasing
    length), so a ragged batch gives its longer first rows smaller ranges.
    ``bounds[c]:bounds[c + 1]`` is chunk ``c``; returns the number of chunks.
    """
    cdef long total = 0, done = 0
    cdef int t, r, c = 1, length = n_steps
    for t in range(n_steps):
        total += batch_sizes[t]
    bounds[0] = 0
    if n_chunks > batch:
        n_chunks = batch
    # Row r runs for `length` steps: the steps t with batch_sizes[t] > r.
    for r in range(batch):
        while length > 0 and batch_sizes[length - 1] <= r:
            length -= 1
        done += length
        if c < n_chunks and done * n_chunks >= total * c:
            bounds[c] = r + 1
            c += 1
    bounds[c] = batch
    return c


cdef inline int _even_chunk(
    int size, int n_chunks, int chunk, int align
) noexcept nogil:
    """Start of chunk ``chunk`` of ``n_chunks`` over ``size``, a multiple of align."""
    cdef long start
    if chunk >= n_chunks:
        return size
    start = (<long> size * chunk) // n_chunks
    start -= start % align
    return <int> start


cdef void _forward_rows(
    int r0,
    int r1,
    int n_steps,
    int batch,
    int units,
    const int *batch_sizes,
    const floating *packed_recurrent,    # (H, 4H) recurrent kernel, packed
    const floating *bias,                # (4H,)
    int n_inputs,
    const floating *X,                   # (T, B, D)
    const floating *packed_kernel,       # (D, 4H) kernel, packed; NULL: see gates
    floating *gates,                     # (T, B, 4H); holds X @ kernel if no kernel
    floating *cells,                     # (T, B, H)
    floating *cells_tanh,                # (T, B, H)
    floating *hidden,                    # (T, B, H)
    const floating *recurrent_mask,      # (B, H) or NULL
    floating *hidden_masked,             # (T, B, H) or NULL
) noexcept nogil:
    """The recurrence of rows ``r0:r1``, which never read the other rows.

    With ``packed_kernel`` each step projects its own rows of ``X`` first, so
    that a thread touches only memory that it wrote itself (see _layer_forward).
    """
    cdef int width = 4 * units
    cdef int t, s, j, n_rows, stop
    cdef const floating *recurrent_input = (
        hidden_masked if recurrent_mask != NULL else hidden
    )
    cdef const floating *c_prev
    cdef long step
    for t in range(n_steps):
        step = <long> t * batch
        stop = batch_sizes[t] if batch_sizes[t] < r1 else r1
        n_rows = stop - r0
        if n_rows > 0:
            c_prev = NULL                # c_{-1} = 0
            if packed_kernel != NULL:
                _packed_product(n_rows, width, n_inputs, X + (step + r0) * n_inputs,
                                n_inputs, 1, packed_kernel, n_inputs,
                                gates + (step + r0) * width, width, False)
            if t > 0:
                _packed_product(n_rows, width, units,
                                recurrent_input + (step - batch + r0) * units, units,
                                1, packed_recurrent, units,
                                gates + (step + r0) * width, width, True)
                c_prev = cells + (step - batch + r0) * units
            _cells_forward(n_rows, units, gates + (step + r0) * width, bias, c_prev,
                           cells + (step + r0) * units,
                           cells_tanh + (step + r0) * units,
                           hidden + (step + r0) * units)
        s = stop if stop > r0 else r0
        if s < r1:
            memset(hidden + (step + s) * units, 0, (r1 - s) * units * sizeof(floating))
        if recurrent_mask != NULL:
            for s in range(r0, r1):
                for j in range(units):
                    hidden_masked[(step + s) * units + j] = (
                        hidden[(step + s) * units + j] * recurrent_mask[s * units + j]
                    )


cdef void _backward_rows(
    int r0,
    int r1,
    int n_steps,
    int batch,
    int units,
    const int *batch_sizes,
    const floating *packed_transposed,   # (4H, H) recurrent kernel.T, packed
    floating *gates,                     # (T, B, 4H) activated; OUT dL/dz
    const floating *cells,               # (T, B, H)
    const floating *cells_tanh,          # (T, B, H)
    floating *d_hidden,                  # (T, B, H)
    floating *d_cell,                    # (B, H)
    const floating *recurrent_mask,      # (B, H) or NULL
    floating *d_work,                    # (B, H) or NULL
    int n_inputs,
    const floating *packed_kernel_t,     # (4H, D) kernel.T, packed; NULL: no d_X
    floating *d_X,                       # (T, B, D) OUT dL/dz @ kernel.T, or NULL
) noexcept nogil:
    """Backpropagation through time of rows ``r0:r1``, independent of the others.

    With ``packed_kernel_t`` each step also passes its gradient down to its rows
    of the layer's input, while that step's dL/dz is in cache.
    """
    cdef int width = 4 * units
    cdef int t, s, j, n_active, n_next, stop, next_stop, n_rows
    cdef long step
    for t in range(n_steps - 1, -1, -1):
        step = <long> t * batch
        n_active = batch_sizes[t]
        n_next = batch_sizes[t + 1] if t + 1 < n_steps else 0
        stop = n_active if n_active < r1 else r1
        next_stop = n_next if n_next < r1 else r1
        # Sequences still running at t + 1 pass gradient back through h_t
        # (through h_t * mask with recurrent dropout).
        n_rows = next_stop - r0
        if n_rows > 0:
            if recurrent_mask == NULL:
                _packed_product(n_rows, units, width,
                                gates + (step + batch + r0) * width, width, 1,
                                packed_transposed, width,
                                d_hidden + (step + r0) * units, units, True)
            else:
                _packed_product(n_rows, units, width,
                                gates + (step + batch + r0) * width, width, 1,
                                packed_transposed, width, d_work + r0 * units, units,
                                False)
                for s in range(r0, next_stop):
                    for j in range(units):
                        d_hidden[(step + s) * units + j] += (
                            d_work[s * units + j] * recurrent_mask[s * units + j]
                        )
        # Sequences that end at t get no cell gradient from t + 1.
        s = next_stop if next_stop > r0 else r0
        if s < stop:
            memset(d_cell + s * units, 0, (stop - s) * units * sizeof(floating))
        if stop > r0:
            _cells_backward(stop - r0, units, gates + (step + r0) * width,
                            cells + (step - batch + r0) * units if t > 0 else NULL,
                            cells_tanh + (step + r0) * units,
                            d_hidden + (step + r0) * units, d_cell + r0 * units)
            if packed_kernel_t != NULL:
                _packed_product(stop - r0, n_inputs, width,
                                gates + (step + r0) * width, width, 1,
                                packed_kernel_t, width,
                                d_X + (step + r0) * n_inputs, n_inputs, False)
        s = stop if stop > r0 else r0
        if s < r1:
            memset(gates + (step + s) * width, 0, (r1 - s) * width * sizeof(floating))
            if packed_kernel_t != NULL:
                memset(d_X + (step + s) * n_inputs, 0,
                       (r1 - s) * n_inputs * sizeof(floating))


cdef void _weight_gradient_columns(
    int c0,
    int c1,
    int n_steps,
    int batch,
    int n_inputs,
    int units,
    const floating *X,                   # (T, B, D)
    const floating *recurrent_input,     # (T, B, H): h_t, or h_t * mask
    const floating *gates,               # (T, B, 4H) dL/dz
    floating *d_kernel,                  # (D, 4H)
    floating *d_recurrent_kernel,        # (H, 4H)
    floating *d_bias,                    # (4H,)
    floating *block,                     # WORK _packed_size(ROW_BLOCK, c1 - c0)
) noexcept nogil:
    """Columns ``c0:c1`` of the weight gradients, summed over every step.

    dL/dz is taken ``ROW_BLOCK`` rows at a time: its columns are packed (and
    summed into ``d_bias``) once, then multiplied by the same rows of X and of
    the previous step's recurrent input while the block is in cache. (BLAS
    packed dL/dz for each of the two products: 40% of their time.)
    """
    cdef int width = 4 * units
    cdef int n_cols = c1 - c0
    cdef int panel = PANEL_BYTES // sizeof(floating)
    cdef int s, rows
    cdef long k0, first, n_rows = <long> n_steps * batch
    cdef bint recurrent_started = False
    if n_cols <= 0:
        return
    memset(d_bias + c0, 0, n_cols * sizeof(floating))
    k0 = 0
    while k0 < n_rows:
        rows = <int> min(<long> ROW_BLOCK, n_rows - k0)
        _pack(rows, n_cols, gates + k0 * width + c0, width, 1, block)
        _column_sums(rows, n_cols, gates + k0 * width + c0, width, d_bias + c0)
        # d_kernel[:, c0:c1] (+)= X[rows].T @ dL/dz[rows]
        _packed_product(n_inputs, n_cols, rows, X + k0 * n_inputs, 1, n_inputs,
                        block, rows, d_kernel + c0, width, k0 > 0)
        # d_recurrent_kernel[:, c0:c1] (+)= h_{t-1}.T @ dL/dz_t: from the second
        # step on, row r of dL/dz pairs with row r - batch of the recurrent input.
        first = max(k0, <long> batch)
        if first < k0 + rows:
            _packed_product(units, n_cols, <int> (k0 + rows - first),
                            recurrent_input + (first - batch) * units, 1, units,
                            block + (first - k0) * panel, rows,
                            d_recurrent_kernel + c0, width, recurrent_started)
            recurrent_started = True
        k0 += rows
    if not recurrent_started:            # a single step: no recurrent term
        for s in range(units):
            memset(d_recurrent_kernel + s * width + c0, 0, n_cols * sizeof(floating))


cdef inline long _rounded(long n_elements) noexcept nogil:
    """``n_elements`` rounded up to whole 128-byte lines (for floats and doubles)."""
    return (n_elements + 31) // 32 * 32


cdef inline long _rows_gradient_work(floating *kind, int n_inputs,
                                     int units) noexcept nogil:
    """Elements of work space one chunk of _weight_gradient_rows needs."""
    return (_rounded(<long> ROW_BLOCK * (n_inputs + units + 4 * units))
            + _packed_size(kind, ROW_BLOCK, 4 * units))


cdef void _weight_gradient_rows(
    int r0,
    int r1,
    int n_steps,
    int batch,
    int n_inputs,
    int units,
    const int *batch_sizes,
    const floating *X,                   # (T, B, D)
    const floating *recurrent_input,     # (T, B, H): h_t, or h_t * mask
    const floating *gates,               # (T, B, 4H) dL/dz
    floating *d_kernel,                  # (D, 4H) OUT rows r0:r1's sum
    floating *d_recurrent_kernel,        # (H, 4H) OUT
    floating *d_bias,                    # (4H,) OUT
    floating *work,                      # WORK _rows_gradient_work(D, H), aligned
) noexcept nogil:
    """The weight gradients summed over rows ``r0:r1`` of every step.

    The rows' running steps are gathered ``ROW_BLOCK`` at a time (the input, the
    previous step's recurrent input, zero at the first step, and dL/dz), then
    multiplied as in _weight_gradient_columns. Only rows this thread wrote are
    read: threads sum their own rows, and the caller adds the sums up. All the
    rows are contiguous already: no gathering then.
    """
    cdef int width = 4 * units
    cdef floating *xs = work
    cdef floating *hs = xs + ROW_BLOCK * n_inputs
    cdef floating *zs = hs + ROW_BLOCK * units
    cdef floating *block = work + _rounded(<long> ROW_BLOCK * (n_inputs + 5 * units))
    cdef int t, r, stop, take, rows = 0
    cdef long at
    cdef bint started = False
    if r0 == 0 and r1 == batch:
        _weight_gradient_columns(0, width, n_steps, batch, n_inputs, units, X,
                                 recurrent_input, gates, d_kernel,
                                 d_recurrent_kernel, d_bias, block)
        return
    for t in range(n_steps):
        stop = min(batch_sizes[t], r1)
        r = r0
        while r < stop:
            take = min(stop - r, ROW_BLOCK - rows)
            at = <long> t * batch + r
            memcpy(xs + rows * n_inputs, X + at * n_inputs,
                   take * n_inputs * sizeof(floating))
            if t > 0:
                memcpy(hs + rows * units, recurrent_input + (at - batch) * units,
                       take * units * sizeof(floating))
            else:                        # h_{-1} = 0
                memset(hs + rows * units, 0, take * units * sizeof(floating))
            memcpy(zs + rows * width, gates + at * width,
                   take * width * sizeof(floating))
            rows += take
            r += take
            if rows == ROW_BLOCK:
                _gathered_gradient(rows, n_inputs, units, xs, hs, zs, block,
                                   d_kernel, d_recurrent_kernel, d_bias, started)
                started = True
                rows = 0
    if rows > 0 or not started:          # the last rows; zeros if there were none
        _gathered_gradient(rows, n_inputs, units, xs, hs, zs, block,
                           d_kernel, d_recurrent_kernel, d_bias, started)


cdef inline void _gathered_gradient(
    int rows,
    int n_inputs,
    int units,
    const floating *xs,                  # (rows, D)
    const floating *hs,                  # (rows, H)
    const floating *zs,                  # (rows, 4H) dL/dz
    floating *block,                     # WORK _packed_size(rows, 4H)
    floating *d_kernel,                  # (D, 4H) (+)= xs.T @ zs
    floating *d_recurrent_kernel,        # (H, 4H) (+)= hs.T @ zs
    floating *d_bias,                    # (4H,) (+)= column sums of zs
    bint accumulate,
) noexcept nogil:
    """One gathered block's share of the weight gradients (none: zeros)."""
    cdef int width = 4 * units
    if not accumulate:
        memset(d_bias, 0, width * sizeof(floating))
        if rows == 0:
            memset(d_kernel, 0, <long> n_inputs * width * sizeof(floating))
            memset(d_recurrent_kernel, 0, <long> units * width * sizeof(floating))
            return
    _pack(rows, width, zs, width, 1, block)
    _column_sums(rows, width, zs, width, d_bias)
    _packed_product(n_inputs, width, rows, xs, 1, n_inputs, block, rows,
                    d_kernel, width, accumulate)
    _packed_product(units, width, rows, hs, 1, units, block, rows,
                    d_recurrent_kernel, width, accumulate)


cdef int _check(bint ok, str what) except -1:
    if not ok:
        raise ValueError(f"lstm kernel: {what}")
    return 0


cdef int _check_packing(const int[::1] batch_sizes, int n_steps, int batch) except -1:
    """The GEMMs trust ``batch_sizes``: a wrong one would write out of bounds."""
    cdef int t, previous = batch
    _check(batch_sizes.shape[0] == n_steps, "batch_sizes must have one entry a step")
    for t in range(n_steps):
        _check(0 <= batch_sizes[t] <= previous,
               "batch_sizes must be non-increasing, within [0, batch]")
        previous = batch_sizes[t]
    return 0


cdef int _check_steps(Py_ssize_t *shape, int n_steps, int batch, int width,
                      str name) except -1:
    """A (n_steps, batch, width) buffer, as the GEMMs will address it."""
    if shape[0] != n_steps or shape[1] != batch or shape[2] != width:
        # Formatted only on failure: this runs at every kernel call.
        raise ValueError(
            f"lstm kernel: {name} has shape {(shape[0], shape[1], shape[2])}, "
            f"expected {(n_steps, batch, width)}"
        )
    return 0


cdef int _n_chunks(int n_threads, double flops, long max_chunks) noexcept nogil:
    """Chunks worth a thread each: at least ``MIN_CHUNK_FLOPS`` of work per chunk.

    Every parallel region ends when its slowest thread does; on a busy machine a
    thread can lose its core for a scheduler time slice (milliseconds), so small
    work stays on one thread, where that cannot happen.
    """
    cdef long n = n_threads
    if flops < n_threads * MIN_CHUNK_FLOPS:
        n = <long> (flops / MIN_CHUNK_FLOPS)
    if n > n_threads:
        n = n_threads
    if n > max_chunks:
        n = max_chunks
    if n > MAX_CHUNKS:
        n = MAX_CHUNKS
    return <int> n if n > 1 else 1


cdef inline int _team(int n_chunks) noexcept nogil:
    """Threads to run ``n_chunks`` chunks: one while backing off, else one each.

    The chunks themselves never depend on timing, only on the work and the
    thread count asked for: each chunk does the same arithmetic whichever thread
    runs it, so a fit repeated with the same random_state gives the same model
    whether or not the machine was busy meanwhile.
    """
    return 1 if n_chunks > 1 and _backing_off() else n_chunks


cdef double _recurrent_flops(const int *batch_sizes, int n_steps,
                             int units) noexcept nogil:
    """Work of the recurrence: the per-step products and the cell updates."""
    cdef double running = 0
    cdef int t
    for t in range(n_steps):
        running += batch_sizes[t]
    return running * units * (8.0 * units + CELL_FLOPS)


cdef void _layer_forward(
    int n_steps,
    int batch,
    int n_inputs,
    int units,
    const int *batch_sizes,              # (T,)
    const floating *X,                   # (T, B, D)
    const floating *kernel,              # (D, 4H)
    const floating *recurrent_kernel,    # (H, 4H)
    const floating *bias,                # (4H,)
    floating *gates,                     # (T, B, 4H)
    floating *cells,                     # (T, B, H)
    floating *cells_tanh,                # (T, B, H)
    floating *hidden,                    # (T, B, H)
    const floating *recurrent_mask,      # (B, H) or NULL
    floating *hidden_masked,             # (T, B, H) or NULL
    floating *packed,                    # WORK _forward_work(D, H, n_threads)
    int n_threads,
) noexcept nogil:
    """One layer's forward (see :func:`lstm_forward`), on checked buffers."""
    cdef int width = 4 * units
    cdef long n_rows = <long> n_steps * batch
    cdef int c, n_chunks, n_projection
    cdef int bounds[MAX_CHUNKS + 1]
    cdef long start, stop
    cdef double busy[MAX_CHUNKS]
    cdef double started, thread_started
    cdef double projection_flops = 2.0 * n_rows * width * n_inputs
    cdef int team
    # Each thread packs its own copy of the weights (see _pack_layer), from the
    # weights it already holds after the previous call, rather than read one
    # packed on another core. (The packed kernel also saves BLAS's zeroing of
    # the gates before adding the projection.)
    cdef long copy = _layer_packed_size(packed, n_inputs, units)
    cdef floating *packed_kernel
    # Sequences do not interact: each thread projects the input of its own rows
    # and runs their whole recurrence, with no synchronisation between steps.
    # Memory written on one core and read on the other crosses between them a
    # cache line at a time, and on a VM whose two vCPUs sit far apart that is a
    # third of a microsecond a line: a projection split by steps, then a
    # recurrence split by sequences, made a stacked layer's forward slower on two
    # threads than on one (measured: 119 against 108 us).
    n_chunks = _row_chunks(
        batch_sizes, n_steps, batch,
        _n_chunks(n_threads,
                  _recurrent_flops(batch_sizes, n_steps, units) + projection_flops,
                  batch),
        bounds,
    )
    if n_chunks > 1:
        team = _team(n_chunks)
        started = _clock_if_split(team)
        for c in prange(n_chunks, num_threads=team, schedule="static",
                        chunksize=1):
            thread_started = _thread_clock_if_split(team)
            packed_kernel = _pack_layer(n_inputs, units, kernel, recurrent_kernel,
                                        packed + c * copy)
            _forward_rows(bounds[c], bounds[c + 1], n_steps, batch, units,
                          batch_sizes, packed + c * copy, bias, n_inputs, X,
                          packed_kernel, gates, cells, cells_tanh, hidden,
                          recurrent_mask, hidden_masked)
            busy[c] = _thread_clock_if_split(team) - thread_started
        _check_contention(busy, n_chunks, team, started)
        return

    # One sequence, or little work: the input projection of every step at once
    # (a long single sequence may still split it), then the recurrence.
    packed_kernel = _pack_layer(n_inputs, units, kernel, recurrent_kernel, packed)
    n_projection = _n_chunks(n_threads, projection_flops, n_rows)
    team = _team(n_projection)
    started = _clock_if_split(team)
    for c in prange(n_projection, num_threads=team, schedule="static",
                    chunksize=1):
        thread_started = _thread_clock_if_split(team)
        start = n_rows * c // n_projection
        stop = n_rows * (c + 1) // n_projection
        _packed_product(<int> (stop - start), width, n_inputs,
                        X + start * n_inputs, n_inputs, 1, packed_kernel,
                        n_inputs, gates + start * width, width, False)
        busy[c] = _thread_clock_if_split(team) - thread_started
    _check_contention(busy, n_projection, team, started)
    _forward_rows(0, batch, n_steps, batch, units, batch_sizes, packed, bias,
                  n_inputs, X, NULL, gates, cells, cells_tanh, hidden,
                  recurrent_mask, hidden_masked)


def lstm_forward(
    const floating[:, :, ::1] X,                 # IN  (T, B, D)
    const floating[:, ::1] kernel,               # IN  (D, 4H)
    const floating[:, ::1] recurrent_kernel,     # IN  (H, 4H)
    const floating[::1] bias,                    # IN  (4H,)
    const int[::1] batch_sizes,                  # IN  (T,) non-increasing, <= B
    floating[:, :, ::1] gates,                   # OUT (T, B, 4H) activated i, f, g, o
    floating[:, :, ::1] cells,                   # OUT (T, B, H)  c_t
    floating[:, :, ::1] cells_tanh,              # OUT (T, B, H)  tanh(c_t)
    floating[:, :, ::1] hidden,                  # OUT (T, B, H)  h_t, 0 past the end
    const floating[:, ::1] recurrent_mask,       # IN  (B, H), or (0, 0): no dropout
    floating[:, :, ::1] hidden_masked,           # OUT (T, B, H) h_t * mask, or empty
    int n_threads=1,                             # IN  threads to split the work over
):
    """Run one LSTM layer over a packed minibatch, from a zero initial state.

    ``gates``, ``cells`` and ``cells_tanh`` are what :func:`lstm_backward` needs;
    ``hidden`` is the layer's output sequence. With a ``recurrent_mask`` (Keras'
    recurrent dropout: one mask per sequence, the same at every step) the
    recurrent kernel sees ``h_{t-1} * mask``, kept in ``hidden_masked``.

    With ``n_threads > 1`` the rows of the batch are split between OpenMP
    threads: sequences do not interact, so each thread runs the whole recurrence
    of its rows with no synchronisation between steps. BLAS must then be
    single-threaded (the caller limits it), or its threads would oversubscribe.
    """
    cdef int n_steps = X.shape[0]
    cdef int batch = X.shape[1]
    cdef int n_inputs = X.shape[2]
    cdef int units = recurrent_kernel.shape[0]
    cdef int width = 4 * units
    cdef bint masked = recurrent_mask.shape[0] > 0

    # Raw-pointer GEMMs write whole blocks: check every extent they rely on.
    _check_packing(batch_sizes, n_steps, batch)
    _check(kernel.shape[0] == n_inputs and kernel.shape[1] == width
           and recurrent_kernel.shape[1] == width and bias.shape[0] == width,
           "weights do not match the input width and units")
    _check_steps(gates.shape, n_steps, batch, width, "gates")
    _check_steps(cells.shape, n_steps, batch, units, "cells")
    _check_steps(cells_tanh.shape, n_steps, batch, units, "cells_tanh")
    _check_steps(hidden.shape, n_steps, batch, units, "hidden")
    if masked:
        _check(recurrent_mask.shape[0] == batch and recurrent_mask.shape[1] == units,
               "recurrent_mask has the wrong shape")
        _check_steps(hidden_masked.shape, n_steps, batch, units, "hidden_masked")
    _check(n_threads >= 1, "n_threads must be at least 1")
    if n_steps == 0 or batch == 0:
        return
    cdef void *raw = _allocate(_forward_work(&gates[0, 0, 0], n_inputs, units,
                                             n_threads),
                               sizeof(floating))
    try:
        with nogil:
            _layer_forward(n_steps, batch, n_inputs, units, &batch_sizes[0],
                           &X[0, 0, 0], &kernel[0, 0], &recurrent_kernel[0, 0],
                           &bias[0], &gates[0, 0, 0], &cells[0, 0, 0],
                           &cells_tanh[0, 0, 0], &hidden[0, 0, 0],
                           &recurrent_mask[0, 0] if masked else NULL,
                           &hidden_masked[0, 0, 0] if masked else NULL,
                           <floating *> _aligned(raw), n_threads)
    finally:
        free(raw)


def lstm_backward(
    const floating[:, :, ::1] X,                 # IN  (T, B, D) as in the forward
    const floating[:, ::1] kernel,               # IN  (D, 4H)
    const floating[:, ::1] recurrent_kernel,     # IN  (H, 4H)
    const int[::1] batch_sizes,                  # IN  (T,)
    floating[:, :, ::1] gates,                   # IN  activated gates; OUT dL/dz
    const floating[:, :, ::1] cells,             # IN  (T, B, H)
    const floating[:, :, ::1] cells_tanh,        # IN  (T, B, H)
    const floating[:, :, ::1] hidden,            # IN  (T, B, H)
    floating[:, :, ::1] d_hidden,                # IN  dL/dh_t from above; clobbered
    floating[:, ::1] d_cell,                     # WORK (B, H)
    floating[:, ::1] d_kernel,                   # OUT (D, 4H)
    floating[:, ::1] d_recurrent_kernel,         # OUT (H, 4H)
    floating[::1] d_bias,                        # OUT (4H,)
    floating[:, :, ::1] d_X,                     # OUT (T, B, D), or (0, 0, 0): skip
    const floating[:, ::1] recurrent_mask,       # IN  (B, H), or (0, 0), as forward
    const floating[:, :, ::1] hidden_masked,     # IN  (T, B, H) from the forward
    floating[:, ::1] d_work,                     # WORK (B, H) with a mask
    int n_threads=1,                             # IN  threads to split the work over
):
    """Backpropagate through one LSTM layer after :func:`lstm_forward`.

    ``d_hidden`` holds the gradient of the loss with respect to each output
    ``h_t`` (rows past a sequence's end are ignored). The gate buffer is overwritten
    by the gradients with respect to the gate pre-activations, so a forward must be
    run again before another backward. Weight gradients are overwritten, not added.

    Threads split the rows, as in the forward: each runs the recurrence, ``d_X``
    and the weight gradients of its own rows, whose sums are then added up.
    """
    cdef int n_steps = X.shape[0]
    cdef int batch = X.shape[1]
    cdef int n_inputs = X.shape[2]
    cdef int units = recurrent_kernel.shape[0]
    cdef int width = 4 * units
    cdef bint want_d_X = d_X.shape[0] > 0
    cdef bint masked = recurrent_mask.shape[0] > 0
    cdef long n_rows = <long> n_steps * batch
    cdef int c, n_chunks, n_columns
    cdef int bounds[MAX_CHUNKS + 1]
    cdef double busy[MAX_CHUNKS]
    cdef double started, thread_started
    cdef int team

    _check_packing(batch_sizes, n_steps, batch)
    _check(kernel.shape[0] == n_inputs and kernel.shape[1] == width
           and recurrent_kernel.shape[1] == width
           and d_kernel.shape[0] == n_inputs and d_kernel.shape[1] == width
           and d_recurrent_kernel.shape[0] == units
           and d_recurrent_kernel.shape[1] == width and d_bias.shape[0] == width,
           "weights or their gradients do not match the input width and units")
    _check_steps(gates.shape, n_steps, batch, width, "gates")
    _check_steps(cells.shape, n_steps, batch, units, "cells")
    _check_steps(cells_tanh.shape, n_steps, batch, units, "cells_tanh")
    _check_steps(hidden.shape, n_steps, batch, units, "hidden")
    _check_steps(d_hidden.shape, n_steps, batch, units, "d_hidden")
    _check(d_cell.shape[0] >= batch and d_cell.shape[1] == units,
           "d_cell has the wrong shape")
    if want_d_X:
        _check_steps(d_X.shape, n_steps, batch, n_inputs, "d_X")
    if masked:
        _check(recurrent_mask.shape[0] == batch and recurrent_mask.shape[1] == units
               and d_work.shape[0] >= batch and d_work.shape[1] == units,
               "recurrent_mask or d_work has the wrong shape")
        _check_steps(hidden_masked.shape, n_steps, batch, units, "hidden_masked")
    _check(n_threads >= 1, "n_threads must be at least 1")
    if n_steps == 0 or batch == 0:
        # No steps to sum over: the gradients are zero (overwritten, as always).
        d_kernel[:, :] = 0
        d_recurrent_kernel[:, :] = 0
        d_bias[:] = 0
        return
    cdef double recurrent_flops = _recurrent_flops(&batch_sizes[0], n_steps, units)
    cdef const floating *mask_ptr = &recurrent_mask[0, 0] if masked else NULL
    cdef floating *d_work_ptr = &d_work[0, 0] if masked else NULL
    cdef const floating *recurrent_input = (
        &hidden_masked[0, 0, 0] if masked else &hidden[0, 0, 0]
    )
    # Each thread takes the same rows as in the forward, through the recurrence,
    # d_X and its rows' share of the weight gradients, then the shares are added
    # up in chunk order (the same sums however many threads run the chunks): only
    # the gradients, not the activations, cross between cores (see _layer_forward).
    cdef double gradient_flops = 2.0 * n_rows * width * (2 * n_inputs + units)
    n_chunks = _row_chunks(
        &batch_sizes[0], n_steps, batch,
        _n_chunks(n_threads, recurrent_flops + gradient_flops, batch), bounds)
    cdef long gradient_size = (<long> n_inputs + units + 1) * width
    # One chunk splits the weight gradients by columns instead (a single long
    # sequence still uses two threads).
    n_columns = 1 if n_chunks > 1 else _n_chunks(n_threads, gradient_flops,
                                                 width // COLUMN_ALIGN)
    # Per chunk, the recurrent kernel's and the kernel's transposes, packed by
    # the thread that uses them (see _layer_forward); then each chunk's work
    # space (whole panels: every part stays 64-byte aligned) and the other
    # chunks' shares.
    cdef long transposed_size = _packed_size(&gates[0, 0, 0], width, units)
    cdef long copy = transposed_size + _packed_size(&gates[0, 0, 0], width, n_inputs)
    cdef long chunk_work = (
        _rows_gradient_work(&gates[0, 0, 0], n_inputs, units) if n_chunks > 1
        else _packed_size(&gates[0, 0, 0], ROW_BLOCK, width))
    cdef void *raw = _allocate(
        n_chunks * copy + max(n_chunks, n_columns) * chunk_work
        + (n_chunks - 1) * _rounded(gradient_size),
        sizeof(floating))
    cdef floating *packed = <floating *> _aligned(raw)
    cdef floating *chunk_works = packed + n_chunks * copy
    cdef floating *shares = chunk_works + max(n_chunks, n_columns) * chunk_work
    cdef floating *share
    cdef long i
    try:
        with nogil:
            team = _team(n_chunks)
            started = _clock_if_split(team)
            for c in prange(n_chunks, num_threads=team, schedule="static",
                            chunksize=1):
                thread_started = _thread_clock_if_split(team)
                # Every step multiplies by both transposes: pack them once.
                _pack(width, units, &recurrent_kernel[0, 0], 1, width,
                      packed + c * copy)
                if want_d_X:
                    _pack(width, n_inputs, &kernel[0, 0], 1, width,
                          packed + c * copy + transposed_size)
                _backward_rows(bounds[c], bounds[c + 1], n_steps, batch, units,
                               &batch_sizes[0], packed + c * copy,
                               &gates[0, 0, 0], &cells[0, 0, 0], &cells_tanh[0, 0, 0],
                               &d_hidden[0, 0, 0], &d_cell[0, 0], mask_ptr, d_work_ptr,
                               n_inputs,
                               packed + c * copy + transposed_size if want_d_X
                               else NULL,
                               &d_X[0, 0, 0] if want_d_X else NULL)
                if n_chunks > 1:
                    share = shares + (c - 1) * _rounded(gradient_size)
                    _weight_gradient_rows(
                        bounds[c], bounds[c + 1], n_steps, batch, n_inputs, units,
                        &batch_sizes[0], &X[0, 0, 0], recurrent_input,
                        &gates[0, 0, 0],
                        &d_kernel[0, 0] if c == 0 else share,
                        &d_recurrent_kernel[0, 0] if c == 0
                        else share + <long> n_inputs * width,
                        &d_bias[0] if c == 0
                        else share + (<long> n_inputs + units) * width,
                        chunk_works + c * chunk_work)
                busy[c] = _thread_clock_if_split(team) - thread_started
            _check_contention(busy, n_chunks, team, started)
            for c in range(1, n_chunks):
                share = shares + (c - 1) * _rounded(gradient_size)
                for i in range(<long> n_inputs * width):
                    (&d_kernel[0, 0])[i] += share[i]
                share += <long> n_inputs * width
                for i in range(<long> units * width):
                    (&d_recurrent_kernel[0, 0])[i] += share[i]
                share += <long> units * width
                for i in range(width):
                    d_bias[i] += share[i]
            if n_chunks == 1:
                team = _team(n_columns)
                started = _clock_if_split(team)
                for c in prange(n_columns, num_threads=team, schedule="static",
                                chunksize=1):
                    thread_started = _thread_clock_if_split(team)
                    _weight_gradient_columns(
                        _even_chunk(width, n_columns, c, COLUMN_ALIGN),
                        _even_chunk(width, n_columns, c + 1, COLUMN_ALIGN),
                        n_steps, batch, n_inputs, units, &X[0, 0, 0], recurrent_input,
                        &gates[0, 0, 0], &d_kernel[0, 0], &d_recurrent_kernel[0, 0],
                        &d_bias[0], chunk_works + c * chunk_work)
                    busy[c] = _thread_clock_if_split(team) - thread_started
                _check_contention(busy, n_columns, team, started)
    finally:
        free(raw)


cdef long *_stack_offsets(int n_features, const int[::1] units,
                          long n_rows) except NULL:
    """Where each layer's part starts in the flat buffers of the stack kernels.

    Three arrays of ``L + 1`` offsets, one after the other (free the first):
    each layer's kernel, recurrent kernel and bias in ``params`` (Keras' order,
    one direction); its gates, cells, tanh of the cells and hidden states in
    ``activations``, each ``(T, B, width)`` for ``n_rows = T * B``; its dL/dh in
    ``d_hiddens``. Index ``L`` of each holds that buffer's total size.
    """
    cdef int L = units.shape[0]
    cdef int layer, n_in, H
    _check(L > 0, "units must name at least one layer")
    cdef long *weights = <long *> malloc(3 * (L + 1) * sizeof(long))
    if weights == NULL:
        raise MemoryError()
    cdef long *activations = weights + L + 1
    cdef long *d_hiddens = activations + L + 1
    weights[0] = activations[0] = d_hiddens[0] = 0
    for layer in range(L):
        n_in = n_features if layer == 0 else units[layer - 1]
        H = units[layer]
        if H <= 0:
            free(weights)
            _check(False, "units must be positive")
        weights[layer + 1] = weights[layer] + (<long> n_in + H + 1) * 4 * H
        activations[layer + 1] = activations[layer] + n_rows * 7 * H
        d_hiddens[layer + 1] = d_hiddens[layer] + n_rows * H
    return weights


def lstm_stack_layout(int n_features, const int[::1] units, long n_rows):
    """Where each layer's part starts in the stack kernels' flat buffers.

    Returns ``(weights, activations, d_hiddens)``, three lists of ``L + 1``
    offsets for minibatches of ``n_rows = T * B`` rows, the last one each
    buffer's size: each layer's kernel, recurrent kernel and bias in ``params``
    (and ``grads``); its gates, cells, tanh of the cells and hidden states in
    ``activations``, one after the other, ``(T, B, 4 * units)`` then ``(T, B,
    units)`` each; its dL/dh, ``(T, B, units)``, in ``d_hiddens``.
    """
    cdef int L = units.shape[0]
    cdef long *offsets = _stack_offsets(n_features, units, n_rows)
    try:
        return tuple([offsets[part * (L + 1) + layer] for layer in range(L + 1)]
                     for part in range(3))
    finally:
        free(offsets)


cdef int _stack_chunks(int n_features, const int[::1] units, const int *batch_sizes,
                       int n_steps, int batch, int n_threads,
                       int *bounds) noexcept nogil:
    """The row chunks of a stack's minibatch (see _row_chunks), by the forward's work.

    Every stack kernel splits a minibatch the same way, so that the backward's
    threads read the activations that they wrote in the forward.
    """
    cdef double flops = 0
    cdef long n_rows = <long> n_steps * batch
    cdef int layer, n_in
    for layer in range(units.shape[0]):
        n_in = n_features if layer == 0 else units[layer - 1]
        flops += (2.0 * n_rows * 4 * units[layer] * n_in
                  + _recurrent_flops(batch_sizes, n_steps, units[layer]))
    return _row_chunks(batch_sizes, n_steps, batch,
                       _n_chunks(n_threads, flops, batch), bounds)


cdef long _stack_chunk_work(floating *kind, int n_features, const int[::1] units,
                            bint backward) noexcept nogil:
    """Elements of one chunk's work space in the stack kernels: the most any layer
    needs (its weights packed; backward, their transposes and the work space of
    its weight gradients)."""
    cdef long most = 0, need
    cdef int layer, n_in, H
    for layer in range(units.shape[0]):
        n_in = n_features if layer == 0 else units[layer - 1]
        H = units[layer]
        if backward:
            need = (_packed_size(kind, 4 * H, H) + _packed_size(kind, 4 * H, n_in)
                    + _rows_gradient_work(kind, n_in, H))
        else:
            need = _layer_packed_size(kind, n_in, H)
        most = max(most, need)
    return most


cdef int _most_units(const int[::1] units) noexcept nogil:
    """The most units of any layer in a stack."""
    cdef int layer, most = 0
    for layer in range(units.shape[0]):
        most = max(most, units[layer])
    return most


def lstm_stack_forward(
    const floating[:, :, ::1] X,                 # IN  (T, B, D) time-major
    const floating[::1] params,                  # IN  LSTMNetwork's flat weights
    const int[::1] units,                        # IN  (L,) units of each layer
    const int[::1] batch_sizes,                  # IN  (T,) as for lstm_forward
    floating[::1] activations,                   # OUT every layer's forward state
    int n_threads=1,                             # IN  threads to split the work over
):
    """Run a stack of one-directional LSTM layers over a packed minibatch.

    What :func:`lstm_forward` does for each layer in turn, in one call: each
    thread takes its rows through every layer (a layer's rows read only the same
    rows of the layer below), with no synchronisation between layers and one
    parallel region in all. For each layer ``activations`` holds, from the
    offset that :func:`lstm_stack_layout` gives, its gates, cells, tanh of the
    cells and hidden states, each ``(T, B, width)``: the next layer's input, and
    what :func:`lstm_stack_backward` needs. ``params`` starts with the layers'
    weights in Keras' order (kernel, recurrent kernel, bias of each layer); what
    follows them (the head) is not read.
    """
    cdef int n_steps = X.shape[0]
    cdef int batch = X.shape[1]
    cdef int n_features = X.shape[2]
    cdef long n_rows = <long> n_steps * batch
    cdef int L = units.shape[0]
    cdef long *offsets = _stack_offsets(n_features, units, n_rows)
    cdef long *at_weights = offsets
    cdef long *at_activations = offsets + L + 1
    cdef int c, layer, n_in, H, n_chunks, team
    cdef int bounds[MAX_CHUNKS + 1]
    cdef double busy[MAX_CHUNKS]
    cdef double started, thread_started
    cdef const floating *weights
    cdef const floating *layer_input
    cdef floating *own
    cdef floating *packed_kernel
    cdef floating *state
    cdef long copy
    cdef void *raw = NULL
    try:
        _check_packing(batch_sizes, n_steps, batch)
        _check(params.shape[0] >= at_weights[L], "params do not match the layers")
        _check(activations.shape[0] >= at_activations[L],
               "activations is too small: see lstm_stack_layout")
        _check(n_threads >= 1, "n_threads must be at least 1")
        if n_steps == 0 or batch == 0:
            return
        n_chunks = _stack_chunks(n_features, units, &batch_sizes[0], n_steps, batch,
                                 n_threads, bounds)
        copy = _stack_chunk_work(&activations[0], n_features, units, False)
        raw = _allocate(n_chunks * copy, sizeof(floating))
        with nogil:
            team = _team(n_chunks)
            started = _clock_if_split(team)
            for c in prange(n_chunks, num_threads=team, schedule="static",
                            chunksize=1):
                thread_started = _thread_clock_if_split(team)
                own = <floating *> _aligned(raw) + c * copy
                for layer in range(L):
                    n_in = n_features if layer == 0 else units[layer - 1]
                    H = units[layer]
                    weights = &params[0] + at_weights[layer]
                    state = &activations[0] + at_activations[layer]
                    if layer == 0:
                        layer_input = &X[0, 0, 0]
                    else:                # the hidden states of the layer below
                        layer_input = (&activations[0] + at_activations[layer]
                                       - n_rows * n_in)
                    # Each thread packs its own copy (see _layer_forward).
                    packed_kernel = _pack_layer(n_in, H, weights,
                                                weights + <long> n_in * 4 * H, own)
                    _forward_rows(bounds[c], bounds[c + 1], n_steps, batch, H,
                                  &batch_sizes[0], own,
                                  weights + (<long> n_in + H) * 4 * H, n_in,
                                  layer_input, packed_kernel, state,
                                  state + n_rows * 4 * H, state + n_rows * 5 * H,
                                  state + n_rows * 6 * H, NULL, NULL)
                busy[c] = _thread_clock_if_split(team) - thread_started
            _check_contention(busy, n_chunks, team, started)
    finally:
        free(offsets)
        free(raw)


def lstm_stack_backward(
    const floating[:, :, ::1] X,                 # IN  (T, B, D) as in the forward
    const floating[::1] params,                  # IN  as in the forward
    const int[::1] units,                        # IN  (L,)
    const int[::1] batch_sizes,                  # IN  (T,)
    floating[::1] activations,                   # IN  the forward's; gates -> dL/dz
    floating[::1] d_hiddens,                     # IN  top layer's dL/dh; clobbered
    floating[::1] grads,                         # OUT the layers' weight gradients
    int n_threads=1,                             # IN  threads to split the work over
):
    """Backpropagate through a stack after :func:`lstm_stack_forward`.

    ``d_hiddens`` holds each layer's dL/dh at the offsets that
    :func:`lstm_stack_layout` gives; the caller fills the top layer's (the
    gradient from the head; rows past a sequence's end are ignored), the others
    are work space. The layers' part of ``grads`` (the same layout as
    ``params``) is overwritten with the gradient; what follows it is left alone.

    Each thread takes the rows it took in the forward down through every layer:
    the recurrence, the gradient passed to the layer below, and its rows' share
    of each layer's weight gradients; the shares are added up after the one
    parallel region, in chunk order (the same sums however many threads run the
    chunks).
    """
    cdef int n_steps = X.shape[0]
    cdef int batch = X.shape[1]
    cdef int n_features = X.shape[2]
    cdef long n_rows = <long> n_steps * batch
    cdef int L = units.shape[0]
    cdef long *offsets = _stack_offsets(n_features, units, n_rows)
    cdef long *at_weights = offsets
    cdef long *at_activations = offsets + L + 1
    cdef long *at_d_hiddens = offsets + 2 * (L + 1)
    cdef int c, layer, n_in, H, n_chunks, team, widest
    cdef int bounds[MAX_CHUNKS + 1]
    cdef double busy[MAX_CHUNKS]
    cdef double started, thread_started
    cdef const floating *weights
    cdef const floating *layer_input
    cdef floating *own
    cdef floating *state
    cdef floating *out
    cdef floating *d_cell
    cdef long copy, share_size, i
    cdef void *raw = NULL
    try:
        _check_packing(batch_sizes, n_steps, batch)
        _check(params.shape[0] >= at_weights[L] and grads.shape[0] >= at_weights[L],
               "params or grads do not match the layers")
        _check(activations.shape[0] >= at_activations[L]
               and d_hiddens.shape[0] >= at_d_hiddens[L],
               "activations or d_hiddens is too small: see lstm_stack_layout")
        _check(n_threads >= 1, "n_threads must be at least 1")
        if n_steps == 0 or batch == 0:
            grads[:at_weights[L]] = 0
            return
        n_chunks = _stack_chunks(n_features, units, &batch_sizes[0], n_steps, batch,
                                 n_threads, bounds)
        widest = _most_units(units)
        # Per chunk: both transposes packed, the weight-gradient work space, and
        # (all but the first chunk, which writes grads) its share of the
        # gradients, laid out like grads. Then dL/dc, (B, widest): a chunk's rows
        # start at bounds[c] * widest whatever the layer's units, since threads
        # run through the layers at their own pace.
        copy = _stack_chunk_work(&activations[0], n_features, units, True)
        share_size = _rounded(at_weights[L])
        raw = _allocate(n_chunks * copy + (n_chunks - 1) * share_size
                        + _rounded(<long> batch * widest), sizeof(floating))
        with nogil:
            d_cell = (<floating *> _aligned(raw) + n_chunks * copy
                      + (n_chunks - 1) * share_size)
            team = _team(n_chunks)
            started = _clock_if_split(team)
            for c in prange(n_chunks, num_threads=team, schedule="static",
                            chunksize=1):
                thread_started = _thread_clock_if_split(team)
                own = <floating *> _aligned(raw) + c * copy
                out = (&grads[0] if c == 0 else <floating *> _aligned(raw)
                       + n_chunks * copy + (c - 1) * share_size)
                for layer in range(L - 1, -1, -1):
                    n_in = n_features if layer == 0 else units[layer - 1]
                    H = units[layer]
                    weights = &params[0] + at_weights[layer]
                    state = &activations[0] + at_activations[layer]
                    if layer == 0:
                        layer_input = &X[0, 0, 0]
                    else:
                        layer_input = state - n_rows * n_in
                    # Each thread packs its own transposes (see _layer_forward).
                    _pack(4 * H, H, weights + <long> n_in * 4 * H, 1, 4 * H, own)
                    if layer > 0:
                        _pack(4 * H, n_in, weights, 1, 4 * H,
                              own + _packed_size(own, 4 * H, H))
                    # _backward_rows finds row s of dL/dc at (pointer) + s * H.
                    _backward_rows(bounds[c], bounds[c + 1], n_steps, batch, H,
                                   &batch_sizes[0], own, state,
                                   state + n_rows * 4 * H, state + n_rows * 5 * H,
                                   &d_hiddens[0] + at_d_hiddens[layer],
                                   d_cell + <long> bounds[c] * (widest - H),
                                   NULL, NULL, n_in,
                                   own + _packed_size(own, 4 * H, H) if layer > 0
                                   else NULL,
                                   &d_hiddens[0] + at_d_hiddens[layer - 1]
                                   if layer > 0 else NULL)
                    _weight_gradient_rows(
                        bounds[c], bounds[c + 1], n_steps, batch, n_in, H,
                        &batch_sizes[0], layer_input, state + n_rows * 6 * H, state,
                        out + at_weights[layer],
                        out + at_weights[layer] + <long> n_in * 4 * H,
                        out + at_weights[layer] + (<long> n_in + H) * 4 * H,
                        own + _packed_size(own, 4 * H, H)
                        + _packed_size(own, 4 * H, n_in))
                busy[c] = _thread_clock_if_split(team) - thread_started
            _check_contention(busy, n_chunks, team, started)
            for c in range(1, n_chunks):
                out = (<floating *> _aligned(raw) + n_chunks * copy
                       + (c - 1) * share_size)
                for i in range(at_weights[L]):
                    grads[i] += out[i]
    finally:
        free(offsets)
        free(raw)


cdef inline long _stack_work(int n_steps, int batch, int max_input, int max_units,
                             int n_directions, int top_units) noexcept nogil:
    """Elements of work space :func:`lstm_stack_logits` needs."""
    cdef long per_step = <long> n_steps * batch
    # Layer input and output (ping-pong), reversed input, gates, cells, tanh of
    # cells, hidden states; then the head's input.
    return (per_step * (3 * max_input + 7 * max_units)
            + <long> batch * n_directions * top_units)


cdef void _stack_extents(int n_features, const int[::1] units, int d,
                         int *max_input, int *max_units) noexcept nogil:
    """Widest layer input and most units over a stack: its buffers' widths."""
    cdef int layer
    max_input[0], max_units[0] = n_features, 0
    for layer in range(units.shape[0]):
        max_units[0] = max(max_units[0], units[layer])
        if layer + 1 < units.shape[0]:
            max_input[0] = max(max_input[0], d * units[layer])


cdef inline int _padded_units(int units) noexcept nogil:
    """Units rounded up to a vector of 16: the gate spacing of _sequence_logits."""
    return (units + 15) // 16 * 16


# A single sequence's input projection reads a kernel of up to this many floats
# (16 KiB, half of L1) where it is, step by step; a larger one is packed and
# multiplied by blocks of steps.
cdef long SEQUENCE_KERNEL_IN_PLACE = 4096


cdef void _pad_gates(int n_rows, int units, int padded, const float *rows,
                     float *out) noexcept nogil:
    """Rows of four gates ``units`` apart -> ``padded`` apart, zeros between."""
    cdef int r, gate
    for r in range(n_rows):
        for gate in range(4):
            memcpy(out + (<long> r * 4 + gate) * padded,
                   rows + <long> r * 4 * units + gate * units, units * sizeof(float))
            memset(out + (<long> r * 4 + gate) * padded + units, 0,
                   (padded - units) * sizeof(float))


cdef enum:
    # The pieces of _sequence_logits' work space, in order: input projections;
    # two layers' outputs; a layer's kernel, packed per input part and gate; its
    # kernel (if small) or recurrent kernel, and its bias, with gates 16-aligned;
    # h_{-1}; c.
    SEQUENCE_PROJECTIONS, SEQUENCE_OUTPUT, SEQUENCE_OTHER_OUTPUT, SEQUENCE_PACKED,
    SEQUENCE_PADDED_WEIGHTS, SEQUENCE_PADDED_BIAS, SEQUENCE_H0, SEQUENCE_CELLS,
    SEQUENCE_PIECES


cdef long _sequence_layout(int n_steps, int n_features, const int[::1] units, int d,
                           long *offsets) noexcept nogil:
    """Offsets (floats) of _sequence_logits' work pieces; returns their total."""
    cdef int layer, part_width = n_features, n_parts = 1, most = 0, widest = 0
    cdef long packed = 0, total = 0
    cdef long sizes[<int> SEQUENCE_PIECES]
    cdef int piece
    for layer in range(units.shape[0]):
        most = max(most, units[layer])
        widest = max(widest, _padded_units(units[layer]))
        packed = max(packed, 4L * n_parts
                     * _packed_size(<float *> NULL, part_width, units[layer]))
        part_width, n_parts = units[layer], d
    sizes[<int> SEQUENCE_PROJECTIONS] = <long> n_steps * 4 * widest
    sizes[<int> SEQUENCE_OUTPUT] = <long> n_steps * d * widest
    sizes[<int> SEQUENCE_OTHER_OUTPUT] = <long> n_steps * d * widest
    sizes[<int> SEQUENCE_PACKED] = packed
    sizes[<int> SEQUENCE_PADDED_WEIGHTS] = max(<long> most * 4 * widest,
                                               SEQUENCE_KERNEL_IN_PLACE)
    sizes[<int> SEQUENCE_PADDED_BIAS] = 4 * widest
    sizes[<int> SEQUENCE_H0] = widest
    sizes[<int> SEQUENCE_CELLS] = widest
    # Every size is a multiple of 16 floats: each piece stays 64-byte aligned.
    for piece in range(<int> SEQUENCE_PIECES):
        offsets[piece] = total
        total += sizes[piece]
    return total


cdef long _sequence_work(int n_steps, int n_features, const int[::1] units,
                         int d) noexcept nogil:
    """Elements of work space :func:`_sequence_logits` needs (and 64 bytes' slack)."""
    cdef long offsets[<int> SEQUENCE_PIECES]
    return _sequence_layout(n_steps, n_features, units, d, offsets) + 16


cdef void _sequence_logits(
    int n_steps,
    int n_features,
    const int[::1] units,
    int d,
    int n_outputs,
    const float *x,                      # IN  (T, D): one sequence
    const float *params,                 # IN  every weight, Keras' order
    float *work,                         # WORK _sequence_work(T, D, units, d)
    float *logits,                       # OUT (n_outputs,)
) noexcept nogil:
    """Head pre-activations of one sequence: lstm_stack_logits for a batch of one.

    Each layer projects the sequence's inputs for all steps (a small kernel read
    step by step, a larger one packed and multiplied by blocks of steps), then
    runs the recurrence in registers (sklstm_recurrence_f). Weights are read
    where they are when the units are a multiple of 16, else from copies whose
    gates are 16-aligned. Outputs of a layer are rows of d * padded(units), the
    directions side by side.
    """
    cdef int layer, direction, part, gate, t, k, o
    cdef int H = 0, P = 0, n_in
    cdef int part_width = n_features, n_parts = 1
    cdef long part_stride = 0, lda = n_features, packed_part
    cdef long offsets[<int> SEQUENCE_PIECES]
    cdef float *base = <float *> _aligned(work)
    cdef float *swap
    cdef const float *layer_input = x
    cdef const float *kernel
    cdef const float *recurrent
    cdef const float *bias
    cdef const float *weights = params
    cdef const float *last
    _sequence_layout(n_steps, n_features, units, d, offsets)
    cdef float *proj = base + offsets[<int> SEQUENCE_PROJECTIONS]
    cdef float *layer_output = base + offsets[<int> SEQUENCE_OUTPUT]
    cdef float *other_output = base + offsets[<int> SEQUENCE_OTHER_OUTPUT]
    cdef float *packed = base + offsets[<int> SEQUENCE_PACKED]
    cdef float *padded_weights = base + offsets[<int> SEQUENCE_PADDED_WEIGHTS]
    cdef float *padded_bias = base + offsets[<int> SEQUENCE_PADDED_BIAS]
    cdef float *h0 = base + offsets[<int> SEQUENCE_H0]
    cdef float *c = base + offsets[<int> SEQUENCE_CELLS]
    memset(h0, 0, (offsets[<int> SEQUENCE_CELLS] - offsets[<int> SEQUENCE_H0])
           * sizeof(float))
    for layer in range(units.shape[0]):
        H = units[layer]
        P = _padded_units(H)
        n_in = n_parts * part_width
        packed_part = _packed_size(<float *> NULL, part_width, H)
        for direction in range(d):
            kernel = weights
            recurrent = kernel + <long> n_in * 4 * H
            bias = recurrent + <long> H * 4 * H
            # proj[t, gate * P + j] = bias + x_t @ kernel, 0 past H.
            if <long> n_in * 4 * P <= SEQUENCE_KERNEL_IN_PLACE:
                if P != H:
                    _pad_gates(n_in, H, P, kernel, padded_weights)
                    _pad_gates(1, H, P, bias, padded_bias)
                    kernel, bias = padded_weights, padded_bias
                _project_f(n_steps, n_parts, part_width, layer_input, lda,
                           part_stride, kernel, bias, P, proj)
            else:
                _pad_gates(1, H, P, bias, proj)
                for t in range(1, n_steps):
                    memcpy(proj + <long> t * 4 * P, proj, 4 * P * sizeof(float))
                for part in range(n_parts):
                    for gate in range(4):
                        _pack(part_width, H,
                              kernel + <long> part * part_width * 4 * H + gate * H,
                              4 * H, 1, packed + (part * 4 + gate) * packed_part)
                        _packed_product(n_steps, H, part_width,
                                        layer_input + part * part_stride, lda, 1,
                                        packed + (part * 4 + gate) * packed_part,
                                        part_width, proj + gate * P, 4 * P, True)
            if P != H:
                _pad_gates(H, H, P, recurrent, padded_weights)
                recurrent = padded_weights
            _recurrence_f(n_steps, H, P, proj, recurrent, direction == 1,
                          layer_output + direction * P, d * P, h0, c)
            weights += (<long> n_in + H + 1) * 4 * H
        layer_input = layer_output
        lda = d * P
        part_stride = P
        part_width, n_parts = H, d
        swap = layer_output
        layer_output = other_output
        other_output = swap
    # logits = bias + [h_{T-1} forward, h_0 backward] @ head kernel
    memcpy(logits, weights + <long> d * H * n_outputs, n_outputs * sizeof(float))
    for direction in range(d):
        last = layer_input + (0 if direction == 1 else <long> (n_steps - 1) * lda) \
            + direction * P
        for k in range(H):
            for o in range(n_outputs):
                logits[o] += (last[k]
                              * weights[<long> (direction * H + k) * n_outputs + o])


cdef long _logits_work(int n_steps, int batch, int n_features, const int[::1] units,
                       int d) noexcept nogil:
    """Elements of work space :func:`lstm_stack_logits` needs (units not empty)."""
    cdef int max_input, max_units
    _stack_extents(n_features, units, d, &max_input, &max_units)
    cdef long work = _stack_work(n_steps, batch, max_input, max_units, d,
                                 units[units.shape[0] - 1])
    if batch == 1:
        # A float sequence alone takes _sequence_logits (the larger, either type).
        work = max(work, _sequence_work(n_steps, n_features, units, d))
    return work


def lstm_stack_work_size(int n_steps, int batch, int n_features, const int[::1] units,
                         bint bidirectional):
    """Elements of ``work`` that :func:`lstm_stack_logits` needs for a batch."""
    _check(units.shape[0] > 0, "units must name at least one layer")
    return _logits_work(n_steps, batch, n_features, units, 2 if bidirectional else 1)


cdef void _stack_logits_rows(
    int r0,
    int r1,
    int n_steps,
    int batch,
    int n_features,
    const int[::1] units,
    int n_outputs,
    const floating *X,                   # (B, T, D) batch-major
    const floating *params,              # every weight, one direction
    const int *batch_sizes,              # (T,) all B
    floating *work,                      # WORK _stack_work(T, r1 - r0, ...)
    int max_input,
    int max_units,
    floating *logits,                    # OUT (B, n_outputs)
    floating *packed,                    # WORK _layer_packed_size(widest, most)
) noexcept nogil:
    """Rows ``r0:r1`` of lstm_stack_logits (one direction), touching no others.

    The rows run as a batch of their own in their own part of the work space:
    in one (T, B, width) buffer, rows of threads at layers of different widths
    would overlap.
    """
    cdef int t, b, layer, n_in, H
    cdef int n_rows = r1 - r0
    cdef long per_step = <long> n_steps * n_rows
    cdef floating *layer_input = work
    cdef floating *layer_output = layer_input + per_step * max_input
    cdef floating *gates = layer_output + 2 * per_step * max_input
    cdef floating *cells = gates + per_step * 4 * max_units
    cdef floating *cells_tanh = cells + per_step * max_units
    cdef floating *hidden = cells_tanh + per_step * max_units
    cdef floating *swap
    cdef floating *packed_kernel
    cdef const floating *weights = params
    for t in range(n_steps):
        for b in range(r0, r1):
            memcpy(layer_input + (<long> t * n_rows + b - r0) * n_features,
                   X + (<long> b * n_steps + t) * n_features,
                   n_features * sizeof(floating))
    for layer in range(units.shape[0]):
        n_in = n_features if layer == 0 else units[layer - 1]
        H = units[layer]
        packed_kernel = _pack_layer(n_in, H, weights, weights + <long> n_in * 4 * H,
                                    packed)
        # batch_sizes are all B >= n_rows: every row runs every step.
        _forward_rows(0, n_rows, n_steps, n_rows, H, batch_sizes, packed,
                      weights + (<long> n_in + H) * 4 * H, n_in, layer_input,
                      packed_kernel, gates, cells, cells_tanh, hidden, NULL, NULL)
        weights += (<long> n_in + H + 1) * 4 * H
        if layer + 1 < units.shape[0]:
            memcpy(layer_output, hidden, per_step * H * sizeof(floating))
            swap = layer_input
            layer_input = layer_output
            layer_output = swap
    # logits = h_{T-1} @ head_kernel + head_bias, for these rows
    for b in range(r0, r1):
        memcpy(logits + <long> b * n_outputs, weights + <long> H * n_outputs,
               n_outputs * sizeof(floating))
    _gemm(False, False, n_rows, n_outputs, H, <floating> 1,
          hidden + (<long> (n_steps - 1) * n_rows) * H, H, weights, n_outputs,
          <floating> 1, logits + <long> r0 * n_outputs, n_outputs)


def lstm_stack_logits(
    const floating[:, :, ::1] X,                 # IN  (B, T, D), batch-major
    const floating[::1] params,                  # IN  every weight, Keras' order
    const int[::1] units,                        # IN  (L,) units of each layer
    bint bidirectional,                          # IN  both directions per layer
    floating[::1] work,                          # WORK lstm_stack_work_size(...), or
                                                 #      None: allocated here
    floating[:, ::1] logits,                     # OUT (B, n_outputs)
    int n_threads=1,                             # IN  threads to split the work over
    bint softmax=False,                          # IN  softmax of each row instead
    bint take_log=False,                         # IN  (softmax) its logarithm
    bint check_finite=False,                     # IN  first check X
):
    """Head pre-activations of a stack of LSTM layers on equal-length sequences.

    The whole prediction in one call, for the latency of small batches: the same
    layer forward as :func:`lstm_forward` for every layer and direction, then the
    dense head. ``params`` is the flat parameter buffer of ``LSTMNetwork`` (per
    layer the forward kernel, recurrent kernel and bias, then the backward
    direction's, then the head's kernel and bias). Every sequence runs all ``T``
    steps, so the backward direction reads each sequence from its last step and
    hands the head its state at the first, as in ``LSTMNetwork``.

    With ``softmax``, ``logits`` receives the softmax of each row (``take_log``:
    its log), as :func:`softmax_rows`; with ``check_finite``, an ``X`` holding NaN
    or infinity is left to the caller's validation, uncomputed. A single
    sequence's prediction is this one call.

    Returns
    -------
    computed : bool
        False if ``check_finite`` found a value that is not finite.
    """
    cdef Py_ssize_t row
    cdef long n_values = X.shape[0] * X.shape[1] * X.shape[2]
    if check_finite and n_values > 0 and not _all_finite(n_values, &X[0, 0, 0]):
        return False
    _stack_logits(X, params, units, bidirectional, work, logits, n_threads)
    if softmax and logits.shape[1] > 0:
        for row in range(logits.shape[0]):
            _softmax_row(logits.shape[1], &logits[row, 0], &logits[row, 0], take_log)
    return True


cdef int _stack_logits(
    const floating[:, :, ::1] X,
    const floating[::1] params,
    const int[::1] units,
    bint bidirectional,
    floating[::1] work,
    floating[:, ::1] logits,
    int n_threads,
) except -1:
    """The body of :func:`lstm_stack_logits`: the logits only."""
    cdef int batch = X.shape[0]
    cdef int n_steps = X.shape[1]
    cdef int n_features = X.shape[2]
    cdef int n_layers = units.shape[0]
    cdef int n_outputs = logits.shape[1]
    cdef int d = 2 if bidirectional else 1
    cdef int layer, direction, n_in, H, t, b, max_input, max_units
    cdef long offset = 0, per_step = <long> n_steps * batch
    cdef floating *layer_input
    cdef floating *layer_output
    cdef floating *swap
    cdef floating *reversed_input
    cdef floating *gates
    cdef floating *cells
    cdef floating *cells_tanh
    cdef floating *hidden
    cdef floating *head_input
    cdef const floating *weights = &params[0]
    cdef const floating *source
    cdef int *batch_sizes
    cdef floating *packed
    cdef int c, n_chunks, team
    cdef int bounds[MAX_CHUNKS + 1]
    cdef double busy[MAX_CHUNKS]
    cdef double started, thread_started
    cdef void *own_work = NULL
    cdef floating *space

    _check(n_layers > 0, "units must name at least one layer")
    for layer in range(n_layers):
        _check(units[layer] > 0, "units must be positive")
        n_in = n_features if layer == 0 else d * units[layer - 1]
        offset += d * (<long> n_in + units[layer] + 1) * 4 * units[layer]
    _stack_extents(n_features, units, d, &max_input, &max_units)
    H = units[n_layers - 1]
    offset += <long> d * H * n_outputs + n_outputs
    _check(params.shape[0] == offset, "params do not match the layer sizes")
    _check(logits.shape[0] == batch, "logits must have one row a sequence")
    cdef long needed = _logits_work(n_steps, batch, n_features, units, d)
    _check(work is None or work.shape[0] >= needed,
           "work is too small: see lstm_stack_work_size")
    _check(n_threads >= 1, "n_threads must be at least 1")
    if batch == 0:
        return 0
    _check(n_steps > 0, "sequences need at least one step")
    # A single sequence's prediction may leave its few hundred KiB to malloc (a
    # buffer pool cost it 1 us of 28).
    if work is None:
        own_work = _allocate(needed, sizeof(floating))
        space = <floating *> _aligned(own_work)
    else:
        space = &work[0]
    try:
        if floating is float:
            if batch == 1:
                with nogil:
                    _sequence_logits(n_steps, n_features, units, d, n_outputs,
                                     &X[0, 0, 0], &params[0], space, &logits[0, 0])
                return 0
        # Every sequence runs every step.
        batch_sizes = <int *> malloc(n_steps * sizeof(int))
        if batch_sizes == NULL:
            raise MemoryError()
        # Each layer's recurrent kernel, packed in turn.
        packed = <floating *> malloc(
            _forward_work(&logits[0, 0], max_input, max_units, n_threads)
            * sizeof(floating)
            + 64)
        if packed == NULL:
            free(batch_sizes)
            raise MemoryError()
        for t in range(n_steps):
            batch_sizes[t] = batch

        layer_input = space
        layer_output = layer_input + per_step * max_input
        reversed_input = layer_output + per_step * max_input
        gates = reversed_input + per_step * max_input
        cells = gates + per_step * 4 * max_units
        cells_tanh = cells + per_step * max_units
        hidden = cells_tanh + per_step * max_units
        head_input = hidden + per_step * max_units
        n_chunks = 1
        if d == 1:
            n_chunks = _stack_chunks(n_features, units, batch_sizes, n_steps, batch,
                                     n_threads, bounds)
        if n_chunks > 1:
            # One direction: each thread takes its sequences through every layer and
            # the head, reading nothing another core wrote (see _layer_forward); a
            # layer at a time, the time-major copies and the layers' outputs moved
            # between the cores (10,000 stacked predictions: 30 ms, 54-57 ms in a
            # window where the two vCPUs sit far apart).
            try:
                with nogil:
                    team = _team(n_chunks)
                    started = _clock_if_split(team)
                    for c in prange(n_chunks, num_threads=team, schedule="static",
                                    chunksize=1):
                        thread_started = _thread_clock_if_split(team)
                        _stack_logits_rows(
                            bounds[c], bounds[c + 1], n_steps, batch, n_features,
                            units, n_outputs, &X[0, 0, 0], &params[0], batch_sizes,
                            space + <long> n_steps * bounds[c]
                            * (3 * max_input + 7 * max_units),
                            max_input, max_units, &logits[0, 0],
                            <floating *> _aligned(packed)
                            + c * _layer_packed_size(packed, max_input, max_units))
                        busy[c] = _thread_clock_if_split(team) - thread_started
                    _check_contention(busy, n_chunks, team, started)
            finally:
                free(batch_sizes)
                free(packed)
            return 0

        with nogil:
            # Batch-major to time-major, the layout of the layer kernels.
            for t in range(n_steps):
                for b in range(batch):
                    memcpy(layer_input + (<long> t * batch + b) * n_features,
                           &X[b, t, 0], n_features * sizeof(floating))
            for layer in range(n_layers):
                n_in = n_features if layer == 0 else d * units[layer - 1]
                H = units[layer]
                for direction in range(d):
                    source = layer_input
                    if direction == 1:
                        for t in range(n_steps):
                            memcpy(reversed_input + <long> t * batch * n_in,
                                   layer_input
                                   + <long> (n_steps - 1 - t) * batch * n_in,
                                   batch * n_in * sizeof(floating))
                        source = reversed_input
                    _layer_forward(n_steps, batch, n_in, H, batch_sizes, source,
                                   weights, weights + <long> n_in * 4 * H,
                                   weights + <long> (n_in + H) * 4 * H,
                                   gates, cells, cells_tanh, hidden, NULL, NULL,
                                   <floating *> _aligned(packed), n_threads)
                    weights += <long> (n_in + H + 1) * 4 * H
                    if layer + 1 < n_layers:
                        # This direction's half of the next layer's input, in the
                        # original time order.
                        for t in range(n_steps):
                            for b in range(batch):
                                memcpy(layer_output
                                       + (<long> t * batch + b) * d * H + direction * H,
                                       hidden + (<long> (n_steps - 1 - t if direction
                                                         else t) * batch + b) * H,
                                       H * sizeof(floating))
                    else:
                        # The state after the last step this direction reads.
                        for b in range(batch):
                            memcpy(head_input + <long> b * d * H + direction * H,
                                   hidden + (<long> (n_steps - 1) * batch + b) * H,
                                   H * sizeof(floating))
                swap = layer_input
                layer_input = layer_output
                layer_output = swap
            # logits = head_input @ head_kernel + head_bias
            H = units[n_layers - 1]
            for b in range(batch):
                memcpy(&logits[b, 0], weights + <long> d * H * n_outputs,
                       n_outputs * sizeof(floating))
            _gemm(False, False, batch, n_outputs, d * H, <floating> 1, head_input,
                  d * H, weights, n_outputs, <floating> 1, &logits[0, 0], n_outputs)
            free(batch_sizes)
            free(packed)
    finally:
        free(own_work)
    return 0


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


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
    ``AdamOptimizer`` without its ten NumPy passes (60 us a minibatch for 30,000
    parameters), in the parameters' precision.
    """
    cdef Py_ssize_t i, n = params.shape[0]
    _check_like(n, grads.shape[0], "grads")
    _check_like(n, m.shape[0], "m")
    _check_like(n, v.shape[0], "v")
    cdef floating b1 = beta_1, c1 = 1 - beta_1, b2 = beta_2, c2 = 1 - beta_2
    cdef floating lr = learning_rate, eps = epsilon, g
    with nogil:
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
    cdef Py_ssize_t i, n = params.shape[0]
    _check_like(n, grads.shape[0], "grads")
    _check_like(n, v.shape[0], "v")
    cdef floating r = rho, c = 1 - rho, lr = learning_rate, eps = epsilon, g
    with nogil:
        for i in range(n):
            g = grads[i]
            v[i] = r * v[i] + c * (g * g)
            params[i] -= lr * (g / _sqrt(v[i] + eps))


def gather_time_major(
    const floating[:, :, ::1] X,                 # IN  (N, T, D) batch-major
    const Py_ssize_t[::1] index,                 # IN  (B,) rows of X, in [0, N)
    floating[:, :, ::1] out,                     # OUT (T, B, D) time-major
):
    """``out[t, b] = X[index[b], t]``: a minibatch in the kernels' layout.

    One pass of contiguous copies; NumPy's gather then transposing copy took
    60 us for a minibatch of the stacked example.
    """
    cdef Py_ssize_t n_samples = X.shape[0], batch = index.shape[0]
    cdef Py_ssize_t n_steps = X.shape[1], n_features = X.shape[2], b, t
    _check(out.shape[0] == n_steps and out.shape[1] == batch
           and out.shape[2] == n_features, "out must be (n_steps, batch, n_features)")
    for b in range(batch):
        _check(0 <= index[b] < n_samples, "index out of range")
    if n_steps == 0 or n_features == 0:
        return
    with nogil:
        for t in range(n_steps):
            for b in range(batch):
                memcpy(&out[t, b, 0], &X[index[b], t, 0],
                       n_features * sizeof(floating))


cdef void _softmax_row(Py_ssize_t k, const floating *z, floating *out,
                       bint take_log) noexcept nogil:
    """Softmax of the k values z (or its log) into out, which may be z."""
    cdef Py_ssize_t j
    cdef floating top = z[0], total = 0
    for j in range(1, k):
        if z[j] > top:
            top = z[j]
    if take_log:
        for j in range(k):
            total += _exp(z[j] - top)
        total = _log(total)
        for j in range(k):
            out[j] = (z[j] - top) - total
    else:
        for j in range(k):
            out[j] = _exp(z[j] - top)
            total += out[j]
        for j in range(k):
            out[j] /= total


def softmax_rows(
    const floating[:, ::1] z,                    # IN  (N, K) logits
    floating[:, ::1] out,                        # OUT (N, K) probabilities or logs
    bint take_log=False,                         # IN  log-softmax instead
):
    """Softmax of each row of ``z`` (or its log, without underflow) into ``out``.

    NumPy's five passes (max, shift, exp, sum, divide) took 4 us on the single
    row of a one-sequence prediction, a tenth of it; this is the same arithmetic
    in one call: shifted by the row's maximum, so no exp overflows; as there, a
    row with NaN or +inf gives NaN, and -inf gives probability 0.
    """
    cdef Py_ssize_t n = z.shape[0], k = z.shape[1], i
    _check(out.shape[0] == n and out.shape[1] == k, "out must have the shape of z")
    if k == 0:
        return
    with nogil:
        for i in range(n):
            _softmax_row(k, &z[i, 0], &out[i, 0], take_log)


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* Whether n contiguous values are all finite: an exponent of all ones
       means NaN or infinity. Integer tests on the bits, OR-ed together, so that
       GCC vectorises the loop (a sum of x * 0 had to wait on each addition). */
    #define SKLSTM_ALL_FINITE(T, U, EXPONENT, S)                                  \
    SKLSTM_CLONES static int sklstm_all_finite_##S(long n, const T *restrict x)   \
    {                                                                             \
        U bad = 0;                                                                \
        for (long i = 0; i < n; ++i) {                                            \
            U bits;                                                               \
            memcpy(&bits, x + i, sizeof bits);                                    \
            bad |= (bits & EXPONENT) == EXPONENT;                                 \
        }                                                                         \
        return bad == 0;                                                          \
    }
    SKLSTM_ALL_FINITE(float, uint32_t, 0x7f800000u, f)
    SKLSTM_ALL_FINITE(double, uint64_t, 0x7ff0000000000000ull, d)
    """
    bint _all_finite_f "sklstm_all_finite_f"(long n, const float *x) noexcept nogil
    bint _all_finite_d "sklstm_all_finite_d"(long n, const double *x) noexcept nogil


# Values an all_finite call checks while holding the GIL: releasing it costs
# more than checking a few sequences (0.1 us of a 1 us check).
cdef long FINITE_CHECK_WITH_GIL = 1 << 16


cdef inline bint _all_finite(long n, const floating *x) noexcept nogil:
    if floating is float:
        return _all_finite_f(n, x)
    else:
        return _all_finite_d(n, x)


def all_finite(const floating[:, :, :] X):
    """Whether every value of ``X`` is finite: one pass, no temporary array."""
    cdef Py_ssize_t i, j, k
    cdef long n = X.shape[0] * X.shape[1] * X.shape[2]
    cdef bint finite = True
    if n == 0:
        return True
    if (X.strides[2] == sizeof(floating) and X.strides[1] == X.shape[2] * X.strides[2]
            and X.strides[0] == X.shape[1] * X.strides[1]):
        if n <= FINITE_CHECK_WITH_GIL:
            return _all_finite(n, &X[0, 0, 0])
        with nogil:
            finite = _all_finite(n, &X[0, 0, 0])
        return finite
    with nogil:
        for i in range(X.shape[0]):
            for j in range(X.shape[1]):
                for k in range(X.shape[2]):
                    finite = finite and _all_finite(1, &X[i, j, k])
    return finite
