/* The GRU cell: its forward on vectors (the definition every route uses, also
   written out for two vectors side by side, see below) and its backward, for
   float (S = f) and double (S = d).

   Keras' GRU with reset_after=True (Cho et al. 2014, the variant of cuDNN and
   PyTorch): gates update z, reset r, candidate n in this order, an input bias
   b and a recurrent bias b'. With x_q = x_t W_q + b_q and u_q = h_{t-1} U_q + b'_q:
   z = sigmoid(x_z + u_z), r = sigmoid(x_r + u_r), n = tanh(x_n + r * u_n),
   h_t = z * h_{t-1} + (1 - z) * n. */
#ifndef SKLSTM_GRU_CELL_H
#define SKLSTM_GRU_CELL_H

#include "simd.h"
#include "vmath.h"

/* The cell on a vector of units (V: vf_64, vd_32, ...): gates[0], gates[1] hold
   the update and reset pre-activations (both sums), gates[2] the candidate's
   input sum x_n; u_n is its recurrent sum. The gates leave activated. */
#define SKLSTM_GRU_CELL(V)                                                      \
SKLSTM_VTARGET_##V SKLSTM_INLINE void sklstm_gru_cell_##V(                      \
    sklstm_##V gates[3], sklstm_##V u_n, sklstm_##V h_prev, sklstm_##V *h)      \
{                                                                               \
    gates[0] = sklstm_sigmoid_##V(gates[0]);                                    \
    gates[1] = sklstm_sigmoid_##V(gates[1]);                                    \
    gates[2] = sklstm_tanh_##V(gates[2] + gates[1] * u_n);                      \
    *h = gates[2] + gates[0] * (h_prev - gates[2]);                             \
}
/* The same cell on two vectors of units at once, a and b, the two written
   interleaved. Its chain of activations (r, then the candidate's tanh, then h)
   is as long as the LSTM's with half the work beside it: one vector's chain
   leaves the pipeline idle, two side by side overlap. */
#define SKLSTM_GRU_CELL_PAIR(V)                                                 \
SKLSTM_VTARGET_##V SKLSTM_INLINE void sklstm_gru_cell_pair_##V(                 \
    sklstm_##V a[3], sklstm_##V b[3], sklstm_##V u_na, sklstm_##V u_nb,         \
    sklstm_##V h_prev_a, sklstm_##V h_prev_b, sklstm_##V *h_a,                  \
    sklstm_##V *h_b)                                                            \
{                                                                               \
    a[1] = sklstm_sigmoid_##V(a[1]);                                            \
    b[1] = sklstm_sigmoid_##V(b[1]);                                            \
    a[0] = sklstm_sigmoid_##V(a[0]);                                            \
    b[0] = sklstm_sigmoid_##V(b[0]);                                            \
    a[2] = sklstm_tanh_##V(a[2] + a[1] * u_na);                                 \
    b[2] = sklstm_tanh_##V(b[2] + b[1] * u_nb);                                 \
    *h_a = a[2] + a[0] * (h_prev_a - a[2]);                                     \
    *h_b = b[2] + b[0] * (h_prev_b - b[2]);                                     \
}
#define SKLSTM_GRU_CELLS(V) SKLSTM_GRU_CELL(V) SKLSTM_GRU_CELL_PAIR(V)
SKLSTM_GRU_CELLS(vf_64)
SKLSTM_GRU_CELLS(vf_32)
SKLSTM_GRU_CELLS(vf_16)
SKLSTM_GRU_CELLS(vd_64)
SKLSTM_GRU_CELLS(vd_32)
SKLSTM_GRU_CELLS(vd_16)

#define SKLSTM_GRU_FORWARD(T, S, ISA, TARGET, V)                                \
/* One vector of units of one row: z and u hold the three gates' input and      \
   recurrent products `units` apart (u is not read at the FIRST step, where     \
   h_{t-1} = 0), bias the input then the recurrent bias. */                     \
TARGET SKLSTM_INLINE void sklstm_gru_chunk_##ISA##_##S(                         \
    const int FIRST, int units, T *z, T *u, const T *bias, const T *h_prev,     \
    T *h)                                                                       \
{                                                                               \
    const T *recurrent_bias = bias + 3 * units;                                 \
    sklstm_##V gates[3], u_n, out, zero = {0};                                  \
    for (int q = 0; q < 2; ++q)                                                 \
        gates[q] = SKLSTM_LOAD(V, z + q * units) + SKLSTM_LOAD(V, bias + q * units)\
                   + SKLSTM_LOAD(V, recurrent_bias + q * units)                 \
                   + (FIRST ? zero : SKLSTM_LOAD(V, u + q * units));            \
    gates[2] = SKLSTM_LOAD(V, z + 2 * units) + SKLSTM_LOAD(V, bias + 2 * units);\
    u_n = SKLSTM_LOAD(V, recurrent_bias + 2 * units)                            \
          + (FIRST ? zero : SKLSTM_LOAD(V, u + 2 * units));                     \
    sklstm_gru_cell_##V(gates, u_n, FIRST ? zero : SKLSTM_LOAD(V, h_prev),      \
                        &out);                                                  \
    for (int q = 0; q < 3; ++q)                                                 \
        SKLSTM_STORE(V, z + q * units, gates[q]);                               \
    SKLSTM_STORE(V, u + 2 * units, u_n);                                        \
    SKLSTM_STORE(V, h, out);                                                    \
}                                                                               \
/* Two vectors of units of one row, L apart: the chunk's work, interleaved. */  \
TARGET SKLSTM_INLINE void sklstm_gru_chunk_pair_##ISA##_##S(                    \
    const int FIRST, int units, T *z, T *u, const T *bias, const T *h_prev,     \
    T *h)                                                                       \
{                                                                               \
    enum { L = SKLSTM_LANES(V) };                                               \
    const T *recurrent_bias = bias + 3 * units;                                 \
    sklstm_##V a[3], b[3], u_na, u_nb, out_a, out_b, zero = {0};                \
    for (int q = 0; q < 2; ++q) {                                               \
        const long at = (long)q * units;                                        \
        a[q] = SKLSTM_LOAD(V, z + at) + SKLSTM_LOAD(V, bias + at)               \
               + SKLSTM_LOAD(V, recurrent_bias + at)                            \
               + (FIRST ? zero : SKLSTM_LOAD(V, u + at));                       \
        b[q] = SKLSTM_LOAD(V, z + at + L) + SKLSTM_LOAD(V, bias + at + L)       \
               + SKLSTM_LOAD(V, recurrent_bias + at + L)                        \
               + (FIRST ? zero : SKLSTM_LOAD(V, u + at + L));                   \
    }                                                                           \
    a[2] = SKLSTM_LOAD(V, z + 2 * units) + SKLSTM_LOAD(V, bias + 2 * units);    \
    b[2] = SKLSTM_LOAD(V, z + 2 * units + L)                                    \
           + SKLSTM_LOAD(V, bias + 2 * units + L);                              \
    u_na = SKLSTM_LOAD(V, recurrent_bias + 2 * units)                           \
           + (FIRST ? zero : SKLSTM_LOAD(V, u + 2 * units));                    \
    u_nb = SKLSTM_LOAD(V, recurrent_bias + 2 * units + L)                       \
           + (FIRST ? zero : SKLSTM_LOAD(V, u + 2 * units + L));                \
    sklstm_gru_cell_pair_##V(a, b, u_na, u_nb,                                  \
                             FIRST ? zero : SKLSTM_LOAD(V, h_prev),             \
                             FIRST ? zero : SKLSTM_LOAD(V, h_prev + L),         \
                             &out_a, &out_b);                                   \
    for (int q = 0; q < 3; ++q) {                                               \
        SKLSTM_STORE(V, z + q * units, a[q]);                                   \
        SKLSTM_STORE(V, z + q * units + L, b[q]);                               \
    }                                                                           \
    SKLSTM_STORE(V, u + 2 * units, u_na);                                       \
    SKLSTM_STORE(V, u + 2 * units + L, u_nb);                                   \
    SKLSTM_STORE(V, h, out_a);                                                  \
    SKLSTM_STORE(V, h + L, out_b);                                              \
}                                                                               \
/* Every row: whole vectors of units in place, two at a time, the last units %  \
   LANES through the same code on zero-padded copies. */                        \
TARGET SKLSTM_INLINE void sklstm_gru_rows_##ISA##_##S(                          \
    const int FIRST, int n_rows, int units, T *restrict z, T *restrict u,       \
    const T *restrict bias, const T *restrict h_prev, T *restrict h)            \
{                                                                               \
    enum { L = SKLSTM_LANES(V) };                                               \
    const int whole = units - units % L, rest = units % L;                      \
    T zt[3 * L], ut[3 * L], bt[6 * L], pt[L], ht[L];                            \
    for (int q = 0; q < 6; ++q)                                                 \
        for (int j = 0; j < L; ++j)                                             \
            bt[L * q + j] = j < rest ? bias[q * units + whole + j] : 0;         \
    for (int s = 0; s < n_rows; ++s) {                                          \
        T *restrict zs = z + (long)s * 3 * units;                               \
        T *restrict us = u + (long)s * 3 * units;                               \
        const T *restrict hp = FIRST ? NULL : h_prev + (long)s * units;         \
        T *restrict hs = h + (long)s * units;                                   \
        int j = 0;                                                              \
        for (; j + 2 * L <= whole; j += 2 * L)                                  \
            sklstm_gru_chunk_pair_##ISA##_##S(FIRST, units, zs + j, us + j,     \
                                              bias + j, FIRST ? NULL : hp + j,  \
                                              hs + j);                          \
        if (j < whole)                                                          \
            sklstm_gru_chunk_##ISA##_##S(FIRST, units, zs + j, us + j, bias + j,\
                                         FIRST ? NULL : hp + j, hs + j);        \
        if (rest == 0)                                                          \
            continue;                                                           \
        for (int q = 0; q < 3; ++q)                                             \
            for (int j = 0; j < L; ++j) {                                       \
                zt[L * q + j] = j < rest ? zs[q * units + whole + j] : 0;       \
                ut[L * q + j] = !FIRST && j < rest ? us[q * units + whole + j]  \
                                                   : 0;                         \
            }                                                                   \
        for (int j = 0; j < L; ++j)                                             \
            pt[j] = !FIRST && j < rest ? hp[whole + j] : 0;                     \
        sklstm_gru_chunk_##ISA##_##S(FIRST, L, zt, ut, bt, pt, ht);             \
        for (int j = 0; j < rest; ++j) {                                        \
            for (int q = 0; q < 3; ++q)                                         \
                zs[q * units + whole + j] = zt[L * q + j];                      \
            us[2 * units + whole + j] = ut[2 * L + j];                          \
            hs[whole + j] = ht[j];                                              \
        }                                                                       \
    }                                                                           \
}                                                                               \
/* z: x_t @ kernel rows (3H) -> activated gates; u: h_{t-1} @ recurrent kernel  \
   rows (3H), its candidate part -> u_n (bias included), the backward's;        \
   h_prev: h_{t-1} rows, NULL at the first step (u unread then). */             \
TARGET static void sklstm_gru_forward_##ISA##_##S(                              \
    int n_rows, int units, T *restrict z, T *restrict u,                        \
    const T *restrict bias, const T *restrict h_prev, T *restrict h)            \
{                                                                               \
    if (h_prev == NULL)                                                         \
        sklstm_gru_rows_##ISA##_##S(1, n_rows, units, z, u, bias, NULL, h);     \
    else                                                                        \
        sklstm_gru_rows_##ISA##_##S(0, n_rows, units, z, u, bias, h_prev, h);   \
}
#define SKLSTM_GRU_ROWS(T, S, P)                                                \
SKLSTM_EACH_ISA(SKLSTM_GRU_FORWARD, T, S, P)                                    \
static void sklstm_gru_forward_##S(int n_rows, int units, T *z, T *u,           \
                                   const T *bias, const T *h_prev, T *h)        \
{                                                                               \
    SKLSTM_DISPATCH(sklstm_gru_forward, S, (n_rows, units, z, u, bias, h_prev,  \
                    h))                                                         \
}                                                                               \
/* The backward of one step's cells. z: activated gates -> gradients with       \
   respect to the input sums (x_z, x_r, x_n); u: u_n in its candidate part ->   \
   the gradient with respect to it, r * dL/dx_n (the update and reset gates'    \
   recurrent sums have the input sums' gradients: their part of u is left as    \
   it is, and the callers read z for them); h_prev: h_{t-1} rows, NULL at the   \
   first step; carry: dL/dh_t through z_{t+1} * h_t from step t + 1 ->          \
   dL/dh_{t-1} through z_t * h_{t-1}. One loop over contiguous memory with no   \
   branch, so that GCC vectorises it. */                                        \
SKLSTM_CLONES static void sklstm_gru_backward_##S(                              \
    int n_rows, int units, T *restrict z, T *restrict u,                        \
    const T *restrict h_prev, const T *restrict dh, T *restrict carry)          \
{                                                                               \
    for (int s = 0; s < n_rows; ++s) {                                          \
        T *restrict zz = z + (long)s * 3 * units;                               \
        T *restrict zr = zz + units;                                            \
        T *restrict zn = zz + 2 * units;                                        \
        T *restrict un = u + (long)s * 3 * units + 2 * units;                   \
        const T *restrict dhs = dh + (long)s * units;                           \
        const T *restrict hp = h_prev == NULL ? NULL                            \
                                              : h_prev + (long)s * units;       \
        T *restrict cs = carry + (long)s * units;                               \
        if (hp != NULL) {                                                       \
            for (int j = 0; j < units; ++j) {                                   \
                const T d = dhs[j] + cs[j], g = zz[j], n = zn[j], r = zr[j];    \
                const T dn = d * (1 - g) * (1 - n * n);                         \
                zz[j] = d * (hp[j] - n) * g * (1 - g);                          \
                zr[j] = dn * un[j] * r * (1 - r);                               \
                zn[j] = dn;                                                     \
                un[j] = dn * r;                                                 \
                cs[j] = d * g;                                                  \
            }                                                                   \
        } else {                  /* h_{-1} = 0 */                              \
            for (int j = 0; j < units; ++j) {                                   \
                const T d = dhs[j] + cs[j], g = zz[j], n = zn[j], r = zr[j];    \
                const T dn = d * (1 - g) * (1 - n * n);                         \
                zz[j] = -d * n * g * (1 - g);                                   \
                zr[j] = dn * un[j] * r * (1 - r);                               \
                zn[j] = dn;                                                     \
                un[j] = dn * r;                                                 \
                cs[j] = d * g;                                                  \
            }                                                                   \
        }                                                                       \
    }                                                                           \
}
SKLSTM_GRU_ROWS(float, f, vf)
SKLSTM_GRU_ROWS(double, d, vd)

#endif
