/* Products with weights that every step of a kernel call reuses, and the
   column sums of the bias gradient. */
#ifndef SKLSTM_PACKED_H
#define SKLSTM_PACKED_H

#include "simd.h"

/* Products with a weight matrix that every step of a call reuses. BLAS
   packs its operands again at each call (a third of its time for one step's
   product at these sizes); here the weights are packed once per kernel call,
   into panels of SKLSTM_PANEL_BYTES of columns that run contiguously down
   the k rows, and a block of output rows x panels is summed in registers
   while its panels stream from cache. Panels past n are zero. */
#define SKLSTM_PANEL_BYTES 128

#define SKLSTM_PACK(T, S)                                                       \
static long sklstm_packed_size_##S(int k, int n)                                \
{                                                                               \
    const int nr = SKLSTM_PANEL_BYTES / sizeof(T);                              \
    return (long)((n + nr - 1) / nr) * nr * k;                                  \
}                                                                               \
/* Pack B[kk][j] = b[kk * row_stride + j * col_stride]: b, or b.T. */           \
SKLSTM_CLONES static void sklstm_pack_##S(int k, int n, const T *restrict b,    \
                                          long row_stride, long col_stride,     \
                                          T *restrict packed)                   \
{                                                                               \
    enum { NR = SKLSTM_PANEL_BYTES / sizeof(T) };                               \
    const int full = n / NR, cols = n - full * NR;                              \
    if (col_stride == 1) {          /* B's rows are contiguous in b */          \
        for (int p = 0; p < full; ++p)                                          \
            for (int kk = 0; kk < k; ++kk) {                                    \
                const T *restrict in = b + kk * row_stride + p * NR;            \
                T *restrict out = packed + ((long)p * k + kk) * NR;             \
                for (int j = 0; j < NR; ++j) out[j] = in[j];                    \
            }                                                                   \
        for (int kk = 0; kk < k && cols > 0; ++kk) {                            \
            const T *restrict in = b + kk * row_stride + full * NR;             \
            T *restrict out = packed + ((long)full * k + kk) * NR;              \
            for (int j = 0; j < NR; ++j) out[j] = j < cols ? in[j] : 0;         \
        }                                                                       \
    } else {                        /* B's columns are: read b in order */      \
        for (int j = 0; j < n; ++j) {                                           \
            const T *restrict in = b + j * col_stride;                          \
            T *restrict out = packed + (long)(j / NR) * k * NR + j % NR;        \
            for (int kk = 0; kk < k; ++kk)                                      \
                out[(long)kk * NR] = in[kk * row_stride];                       \
        }                                                                       \
        for (int kk = 0; kk < k && cols > 0; ++kk)    /* zero the padding */    \
            for (int j = cols; j < NR; ++j)                                     \
                packed[((long)full * k + kk) * NR + j] = 0;                     \
    }                                                                           \
}

/* Rows a block of the product takes at most, by vector width: as many sums as
   the registers hold besides a panel row and a broadcast (AVX-512: 12 rows of
   a two-vector panel, 24 of its 32 registers; AVX2 and SSE2 have 16). Leftover
   rows go in blocks of 4, 2 and 1, each as many panels at once. */
#define SKLSTM_BLOCK_ROWS(V)                                                    \
    (sizeof(sklstm_##V) == 64 ? 12 : sizeof(sklstm_##V) == 32 ? 3 : 1)

/* One instruction set's kernel: vectors V, blocks of up to MR rows.
   A block of R > 1 rows takes MR / R panels at once, so that every block
   keeps MR * (panel vectors) independent sums: enough to hide the latency of
   the multiply-adds, few enough to stay in registers. A single row is bound
   by loading the panels (each element is used once) and streams one panel
   at a time, which the prefetcher follows better than eight at once. */
#define SKLSTM_PACKED_GEMM(T, S, ISA, TARGET, V)                                \
TARGET static inline __attribute__((always_inline)) void                        \
sklstm_block_##ISA##_##S(const int R, const int NP, int k,                      \
                         const T *restrict a, long lda, long a_step,            \
                         const T *restrict panels, long panel_stride,           \
                         T *restrict c, int ldc, int accumulate)                \
{                                                                               \
    typedef sklstm_##V vec;                                                   \
    enum { NV = SKLSTM_PANEL_BYTES / sizeof(vec), LANES = SKLSTM_LANES(V),      \
           NR = SKLSTM_PANEL_BYTES / sizeof(T), MR = SKLSTM_BLOCK_ROWS(V) };    \
    vec acc[MR][MR * NV], b[MR * NV];                                           \
    for (int r = 0; r < R; ++r)                                                 \
        for (int v = 0; v < NP * NV; ++v)                                       \
            acc[r][v] = accumulate                                              \
                ? *(const vec *)(c + (long)r * ldc + v * LANES) : (vec){0};     \
    for (int kk = 0; kk < k; ++kk) {                                            \
        for (int v = 0; v < NP * NV; ++v)                                       \
            b[v] = *(const vec *)(panels + (v / NV) * panel_stride              \
                                  + (long)kk * NR + (v % NV) * LANES);          \
        for (int r = 0; r < R; ++r) {                                           \
            const T ar = a[r * lda + kk * a_step];                              \
            for (int v = 0; v < NP * NV; ++v)                                   \
                acc[r][v] += ar * b[v];                                         \
        }                                                                       \
    }                                                                           \
    for (int r = 0; r < R; ++r)                                                 \
        for (int v = 0; v < NP * NV; ++v)                                       \
            *(vec *)(c + (long)r * ldc + v * LANES) = acc[r][v];                \
}                                                                               \
/* R rows of c (+)= a @ B: whole panels in groups, then a partial last          \
   panel through a staging tile. */                                             \
TARGET static inline __attribute__((always_inline)) void                        \
sklstm_rows_##ISA##_##S(const int R, int n, int k, const T *restrict a,         \
                        long lda, long a_step, const T *restrict packed,        \
                        long packed_k, T *restrict c, int ldc,                  \
                        int accumulate)                                         \
{                                                                               \
    enum { NR = SKLSTM_PANEL_BYTES / sizeof(T), MR = SKLSTM_BLOCK_ROWS(V) };    \
    const int NP = R == 1 ? 1 : MR / R;                                         \
    const int full = n / NR, cols = n - full * NR;                              \
    const long stride = packed_k * NR;                                          \
    int p = 0;                                                                  \
    for (; p + NP <= full; p += NP)                                             \
        sklstm_block_##ISA##_##S(R, NP, k, a, lda, a_step,                      \
                                 packed + p * stride,                           \
                                 stride, c + p * NR, ldc, accumulate);          \
    for (; p < full; ++p)                                                       \
        sklstm_block_##ISA##_##S(R, 1, k, a, lda, a_step,                       \
                                 packed + p * stride,                           \
                                 stride, c + p * NR, ldc, accumulate);          \
    if (cols > 0) {                                                             \
        T tile[MR * NR];                                                        \
        for (int r = 0; r < R; ++r)                                             \
            for (int j = 0; j < NR; ++j)                                        \
                tile[r * NR + j] = accumulate && j < cols                       \
                    ? c[(long)r * ldc + full * NR + j] : 0;                     \
        sklstm_block_##ISA##_##S(R, 1, k, a, lda, a_step,                       \
                                 packed + full * stride,                        \
                                 stride, tile, NR, 1);                          \
        for (int r = 0; r < R; ++r)                                             \
            for (int j = 0; j < cols; ++j)                                      \
                c[(long)r * ldc + full * NR + j] = tile[r * NR + j];            \
    }                                                                           \
}                                                                               \
TARGET static void sklstm_packed_gemm_##ISA##_##S(                              \
    int m, int n, int k, const T *restrict a, long lda, long a_step,            \
    const T *restrict packed, long packed_k, T *restrict c, int ldc,            \
    int accumulate)                                                             \
{                                                                               \
    enum { MR = SKLSTM_BLOCK_ROWS(V) };                                         \
    int i = 0;                                                                  \
    for (; i + MR <= m; i += MR)                                                \
        sklstm_rows_##ISA##_##S(MR, n, k, a + i * lda, lda, a_step,             \
                                packed, packed_k, c + (long)i * ldc, ldc,       \
                                accumulate);                                    \
    for (; MR > 4 && i + 4 <= m; i += 4)                                        \
        sklstm_rows_##ISA##_##S(4, n, k, a + i * lda, lda, a_step,              \
                                packed, packed_k, c + (long)i * ldc, ldc,       \
                                accumulate);                                    \
    if (MR > 2 && i + 2 <= m) {                                                 \
        sklstm_rows_##ISA##_##S(2, n, k, a + i * lda, lda, a_step,              \
                                packed, packed_k, c + (long)i * ldc, ldc,       \
                                accumulate);                                    \
        i += 2;                                                                 \
    }                                                                           \
    for (; i < m; ++i)                                                          \
        sklstm_rows_##ISA##_##S(1, n, k, a + i * lda, lda, a_step,              \
                                packed, packed_k, c + (long)i * ldc, ldc,       \
                                accumulate);                                    \
}

/* c = a @ B, or c += a @ B with accumulate; a (m, k) with a[r][kk] at
   a[r * lda + kk * a_step] (a row-major matrix, or the transpose of one),
   c (m, n) rows ldc apart, B the first k rows of a matrix of packed_k rows
   packed by sklstm_pack. */
#define SKLSTM_PACKED_PRODUCT(T, S, P)                                          \
SKLSTM_PACK(T, S)                                                               \
SKLSTM_EACH_ISA(SKLSTM_PACKED_GEMM, T, S, P)                                    \
static void sklstm_packed_gemm_##S(int m, int n, int k, const T *a, long lda,   \
                                   long a_step, const T *packed, long packed_k, \
                                   T *c, int ldc, int accumulate)               \
{                                                                               \
    SKLSTM_DISPATCH(sklstm_packed_gemm, S, (m, n, k, a, lda, a_step, packed,    \
                    packed_k, c, ldc, accumulate))                              \
}
SKLSTM_PACKED_PRODUCT(float, f, vf)
SKLSTM_PACKED_PRODUCT(double, d, vd)

/* sums[j] += a[r][j] over rows r: the bias gradient. In Cython the sums
   might alias a, so each addition went through memory, one float at a time;
   restrict lets GCC vectorise it. */
#define SKLSTM_COLUMN_SUMS(T, S)                                                \
SKLSTM_CLONES static void sklstm_column_sums_##S(                               \
    int n_rows, int n, const T *restrict a, long lda, T *restrict sums)         \
{                                                                               \
    for (int r = 0; r < n_rows; ++r)                                            \
        for (int j = 0; j < n; ++j)                                             \
            sums[j] += a[(long)r * lda + j];                                    \
}
SKLSTM_COLUMN_SUMS(float, f)
SKLSTM_COLUMN_SUMS(double, d)

#endif
