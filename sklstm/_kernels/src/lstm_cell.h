/* The LSTM cell: its forward on vectors (the one definition every route uses)
   and its backward, for float (S = f) and double (S = d).

   Gate order is Keras' (and PyTorch's): input, forget, cell candidate, output.
   c_t = f * c_{t-1} + i * g and h_t = o * tanh(c_t) (Hochreiter & Schmidhuber
   1997, with the forget gate of Gers et al. 2000). */
#ifndef SKLSTM_LSTM_CELL_H
#define SKLSTM_LSTM_CELL_H

#include "simd.h"
#include "vmath.h"

/* The cell on K vectors of units side by side (V: vf_64, vd_32, ...; K = 1 or
   2, a constant): gates[k][q] holds gate q's pre-activations (bias included)
   and leaves activated; c_prev[k] is c_{t-1} (zeros at the first step). Every
   route's forward goes through it. The K vectors' activations are written
   interleaved: one vector's chain (the gates, then the cell's tanh) leaves the
   pipeline idle, two side by side overlap. Unrolled by request: GCC 12 keeps
   the double activations, longer than the float ones, in a loop over gates
   through the stack otherwise. */
#define SKLSTM_LSTM_CELL(V)                                                     \
SKLSTM_VTARGET_##V SKLSTM_INLINE void sklstm_lstm_cells_##V(                    \
    const int K, sklstm_##V gates[][4], const sklstm_##V *c_prev,               \
    sklstm_##V *c, sklstm_##V *c_tanh, sklstm_##V *h)                           \
{                                                                               \
    _Pragma("GCC unroll 4")                                                     \
    for (int q = 0; q < 4; ++q)                                                 \
        _Pragma("GCC unroll 2")                                                 \
        for (int k = 0; k < K; ++k)                                             \
            gates[k][q] = q == 2 ? sklstm_tanh_##V(gates[k][q])                 \
                                 : sklstm_sigmoid_##V(gates[k][q]);             \
    for (int k = 0; k < K; ++k)                                                 \
        c[k] = gates[k][1] * c_prev[k] + gates[k][0] * gates[k][2];             \
    for (int k = 0; k < K; ++k)                                                 \
        c_tanh[k] = sklstm_tanh_##V(c[k]);                                      \
    for (int k = 0; k < K; ++k)                                                 \
        h[k] = gates[k][3] * c_tanh[k];                                         \
}
SKLSTM_LSTM_CELL(vf_64)
SKLSTM_LSTM_CELL(vf_32)
SKLSTM_LSTM_CELL(vf_16)
SKLSTM_LSTM_CELL(vd_64)
SKLSTM_LSTM_CELL(vd_32)
SKLSTM_LSTM_CELL(vd_16)

/* The cells of one step over rows, for float (S = f) and double (S = d): the
   forward of each instruction set on vectors V of its width, then the backward
   (loops GCC's clones vectorise). */
#define SKLSTM_CELLS_FORWARD(T, S, ISA, TARGET, V)                              \
/* K (1 or 2) vectors of units of one row, L apart: z holds the four gates     \
   `units` apart, bias likewise; c_prev is NULL at the first step. With KEEP   \
   (training), the activated gates go back into z and tanh(c_t) to c_tanh, for \
   the backward; without (prediction), only c_t and h_t are written. */       \
TARGET SKLSTM_INLINE void sklstm_cells_chunk_##ISA##_##S(                       \
    const int K, const int KEEP, int units, T *z, const T *bias,                \
    const T *c_prev, T *c, T *c_tanh, T *h)                                     \
{                                                                               \
    enum { L = SKLSTM_LANES(V) };                                               \
    sklstm_##V gates[2][4], prev[2], cell[2], tc[2], out[2];                    \
    for (int k = 0; k < K; ++k) {                                               \
        for (int q = 0; q < 4; ++q)                                             \
            gates[k][q] = SKLSTM_LOAD(V, z + q * units + k * L)                 \
                          + SKLSTM_LOAD(V, bias + q * units + k * L);           \
        prev[k] = c_prev ? SKLSTM_LOAD(V, c_prev + k * L) : (sklstm_##V){0};    \
    }                                                                           \
    sklstm_lstm_cells_##V(K, gates, prev, cell, tc, out);                       \
    for (int k = 0; k < K; ++k) {                                               \
        if (KEEP) {                                                             \
            for (int q = 0; q < 4; ++q)                                         \
                SKLSTM_STORE(V, z + q * units + k * L, gates[k][q]);            \
            SKLSTM_STORE(V, c_tanh + k * L, tc[k]);                             \
        }                                                                       \
        SKLSTM_STORE(V, c + k * L, cell[k]);                                    \
        SKLSTM_STORE(V, h + k * L, out[k]);                                     \
    }                                                                           \
}                                                                               \
/* Every row: whole vectors of units, two at a time, then the last units %     \
   LANES of a row through the same code on zero-padded copies. */              \
TARGET SKLSTM_INLINE void sklstm_cells_rows_##ISA##_##S(                        \
    const int KEEP, int n_rows, int units, T *restrict z,                       \
    const T *restrict bias, const T *restrict c_prev, T *restrict c,            \
    T *restrict c_tanh, T *restrict h)                                          \
{                                                                               \
    enum { L = SKLSTM_LANES(V) };                                               \
    const int whole = units - units % L, rest = units % L;                      \
    /* Gates and bias L apart, then the previous cell; the outputs after. */    \
    T zt[4 * L], bt[4 * L], pt[L], ct[L], tt[L], ht[L];                         \
    for (int q = 0; q < 4; ++q)                                                 \
        for (int j = 0; j < L; ++j)                                             \
            bt[L * q + j] = j < rest ? bias[q * units + whole + j] : 0;         \
    for (int s = 0; s < n_rows; ++s) {                                          \
        T *restrict zs = z + (long)s * 4 * units;                               \
        const T *restrict cp = c_prev ? c_prev + (long)s * units : NULL;        \
        T *restrict cs = c + (long)s * units;                                   \
        T *restrict ts = KEEP ? c_tanh + (long)s * units : NULL;                \
        T *restrict hs = h + (long)s * units;                                   \
        int j = 0;                                                              \
        for (; j + 2 * L <= whole; j += 2 * L)                                  \
            sklstm_cells_chunk_##ISA##_##S(2, KEEP, units, zs + j, bias + j,    \
                                           cp ? cp + j : NULL, cs + j,          \
                                           KEEP ? ts + j : NULL, hs + j);       \
        if (j < whole)                                                          \
            sklstm_cells_chunk_##ISA##_##S(1, KEEP, units, zs + j, bias + j,    \
                                           cp ? cp + j : NULL, cs + j,          \
                                           KEEP ? ts + j : NULL, hs + j);       \
        if (rest == 0)                                                          \
            continue;                                                           \
        for (int q = 0; q < 4; ++q)                                             \
            for (int j = 0; j < L; ++j)                                         \
                zt[L * q + j] = j < rest ? zs[q * units + whole + j] : 0;       \
        for (int j = 0; j < L; ++j)                                             \
            pt[j] = cp && j < rest ? cp[whole + j] : 0;                         \
        sklstm_cells_chunk_##ISA##_##S(1, KEEP, L, zt, bt, cp ? pt : NULL, ct,  \
                                       tt, ht);                                 \
        for (int j = 0; j < rest; ++j) {                                        \
            if (KEEP) {                                                         \
                for (int q = 0; q < 4; ++q)                                     \
                    zs[q * units + whole + j] = zt[L * q + j];                  \
                ts[whole + j] = tt[j];                                          \
            }                                                                   \
            cs[whole + j] = ct[j];                                              \
            hs[whole + j] = ht[j];                                              \
        }                                                                       \
    }                                                                           \
}                                                                               \
/* z: pre-activations less bias (rows of 4H) -> activated gates, kept with      \
   tanh(c_t) unless c_tanh is NULL (prediction, which needs neither); c_prev:   \
   c_{t-1} rows, NULL at the first step. */                                     \
TARGET static void sklstm_cells_forward_##ISA##_##S(                            \
    int n_rows, int units, T *restrict z, const T *restrict bias,               \
    const T *restrict c_prev, T *restrict c, T *restrict c_tanh,                \
    T *restrict h)                                                              \
{                                                                               \
    if (c_tanh)                                                                 \
        sklstm_cells_rows_##ISA##_##S(1, n_rows, units, z, bias, c_prev, c,     \
                                      c_tanh, h);                               \
    else                                                                        \
        sklstm_cells_rows_##ISA##_##S(0, n_rows, units, z, bias, c_prev, c,     \
                                      NULL, h);                                 \
}
#define SKLSTM_CELL_ROWS(T, S, P)                                               \
SKLSTM_EACH_ISA(SKLSTM_CELLS_FORWARD, T, S, P)                                  \
static void sklstm_cells_forward_##S(int n_rows, int units, T *z,               \
                                     const T *bias, const T *c_prev, T *c,      \
                                     T *c_tanh, T *h)                           \
{                                                                               \
    SKLSTM_DISPATCH(sklstm_cells_forward, S, (n_rows, units, z, bias, c_prev,   \
                    c, c_tanh, h))                                              \
}                                                                               \
/* The backward of one step's cells. z: activated gates -> gradients with       \
   respect to their pre-activations; c_prev: c_{t-1} rows, NULL at the first    \
   step; dc: dL/dc_t from step t + 1 -> dL/dc_{t-1}. One gate block per loop,   \
   each over contiguous memory with no branch, so that GCC vectorises them. */  \
SKLSTM_CLONES static void sklstm_cells_backward_##S(                            \
    int n_rows, int units, T *restrict z, const T *restrict c_prev,             \
    const T *restrict c_tanh, const T *restrict dh, T *restrict dc)             \
{                                                                               \
    for (int s = 0; s < n_rows; ++s) {                                          \
        T *restrict zi = z + (long)s * 4 * units;                               \
        T *restrict zf = zi + units;                                            \
        T *restrict zg = zi + 2 * units;                                        \
        T *restrict zo = zi + 3 * units;                                        \
        const T *restrict ct = c_tanh + (long)s * units;                        \
        const T *restrict dhs = dh + (long)s * units;                           \
        T *restrict dcs = dc + (long)s * units;                                 \
        for (int j = 0; j < units; ++j) {                                       \
            const T o = zo[j], tc = ct[j];                                      \
            dcs[j] = dcs[j] + dhs[j] * o * (1 - tc * tc); /* dL/dc_t */         \
            zo[j] = dhs[j] * tc * o * (1 - o);                                  \
        }                                                                       \
        for (int j = 0; j < units; ++j) {                                       \
            const T i = zi[j], g = zg[j];                                       \
            zi[j] = dcs[j] * g * i * (1 - i);                                   \
            zg[j] = dcs[j] * i * (1 - g * g);                                   \
        }                                                                       \
        if (c_prev != NULL) {                                                   \
            const T *restrict cp = c_prev + (long)s * units;                    \
            for (int j = 0; j < units; ++j) {                                   \
                const T f = zf[j];                                              \
                zf[j] = dcs[j] * cp[j] * f * (1 - f);                           \
                dcs[j] = dcs[j] * f;                                            \
            }                                                                   \
        } else {                  /* c_{-1} = 0: no forget-gate gradient */     \
            for (int j = 0; j < units; ++j) {                                   \
                dcs[j] = dcs[j] * zf[j];                                        \
                zf[j] = 0;                                                      \
            }                                                                   \
        }                                                                       \
    }                                                                           \
}
SKLSTM_CELL_ROWS(float, f, vf)
SKLSTM_CELL_ROWS(double, d, vd)

#endif
