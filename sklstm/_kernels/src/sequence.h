/* One sequence predicted alone: its recurrence in vector registers, for both
   cells (CELL: SKLSTM_LSTM or SKLSTM_GRU, a constant in every call).

   The product of one row h_{t-1} with the recurrent kernel U is bound by reading
   U (64 KiB for 64 float units) from L2 at every step. Here each step keeps its
   gate sums in registers: G blocks of LANES units take their gates' sums
   (the step's input projection and bias to start with) down the rows of U in
   Keras' layout, unpacked, and update their cells on the spot through
   sklstm_lstm_cell or sklstm_gru_cell; no pre-activation goes through memory.
   The GRU's candidate keeps its recurrent sum apart, started from its recurrent
   bias (the reset gate multiplies it); its other gates' recurrent biases are
   in the projection. Every other step
   reads U's rows in reverse order, starting on those the previous step left in
   L1. Gates are `padded` (units rounded up to LANES) apart: U, proj and out have
   zero columns past `units`, which keep zero cells and outputs. */
#ifndef SKLSTM_SEQUENCE_H
#define SKLSTM_SEQUENCE_H

#include "gru_cell.h"
#include "lstm_cell.h"

/* The cells, as the kernels' `cell` arguments name them (_layout.pxd). */
#define SKLSTM_LSTM 0
#define SKLSTM_GRU 1
#define SKLSTM_GATES(CELL) ((CELL) == SKLSTM_GRU ? 3 : 4)

/* Unit blocks a group, a sum a gate each in registers: AVX-512 4 blocks (16 of
   its 32 registers), AVX2 and SSE2 two (8 of their 16). */
#define SKLSTM_GROUP(V) (sizeof(sklstm_##V) == 64 ? 4 : 2)


#define SKLSTM_SEQUENCE(T, S, ISA, TARGET, V)                                   \
/* acc[q][g] += x[k] * rows[k][q * padded + LANES g] over the n rows k (ld      \
   apart) and the NG gates q, from the last row backwards if asked. */          \
TARGET SKLSTM_INLINE void                                                       \
sklstm_gate_sums_##ISA##_##S(const int NB, const int NG, int n,                 \
                             const T *restrict x,                               \
                             const T *restrict rows, long ld, int padded,       \
                             int backwards, sklstm_##V acc[][SKLSTM_GROUP(V)])  \
{                                                                               \
    enum { L = SKLSTM_LANES(V) };                                               \
    /* A pointer a gate: offsets from one base took more registers than GCC     \
       had, and it reloaded them from the stack at every row. */                \
    const T *restrict r0 = backwards ? rows + (long)(n - 1) * ld : rows;        \
    const T *restrict r1 = r0 + padded, *restrict r2 = r0 + 2 * padded;         \
    const T *restrict r3 = r0 + 3 * padded;                                     \
    const T *restrict xk = backwards ? x + n - 1 : x;                           \
    const long row_step = backwards ? -ld : ld, x_step = backwards ? -1 : 1;    \
    for (int k = 0; k < n; ++k) {                                               \
        const T a = *xk;                                                        \
        for (int g = 0; g < NB; ++g) {                                          \
            acc[0][g] += a * SKLSTM_LOAD(V, r0 + L * g);                        \
            acc[1][g] += a * SKLSTM_LOAD(V, r1 + L * g);                        \
            acc[2][g] += a * SKLSTM_LOAD(V, r2 + L * g);                        \
            if (NG > 3)                                                         \
                acc[3][g] += a * SKLSTM_LOAD(V, r3 + L * g);                    \
        }                                                                       \
        r0 += row_step;                                                         \
        r1 += row_step;                                                         \
        r2 += row_step;                                                         \
        r3 += row_step;                                                         \
        xk += x_step;                                                           \
    }                                                                           \
}                                                                               \
/* NB blocks of LANES units from unit u: the gates' sums, from `init` plus      \
   x @ rows (n_parts runs of part_width values of x, part_stride apart, against \
   consecutive runs of rows); then either stored to out (PROJECT) or taken      \
   through the cell: the LSTM's updates c and writes h to out; the GRU's reads  \
   h_{t-1} from x and starts its candidate's recurrent sum from u_bias. */      \
TARGET SKLSTM_INLINE void                                                       \
sklstm_unit_group_##ISA##_##S(const int NB, const int CELL, const int PROJECT,  \
                              int u, int padded, const T *restrict init,        \
                              int n_parts, int part_width, const T *restrict x, \
                              long part_stride, const T *restrict rows,         \
                              int backwards, const T *restrict u_bias,          \
                              T *restrict c, T *restrict out)                   \
{                                                                               \
    enum { L = SKLSTM_LANES(V), G = SKLSTM_GROUP(V) };                          \
    const int NG = SKLSTM_GATES(CELL);                                          \
    sklstm_##V acc[4][G], cell, c_tanh, h;                                      \
    const long ld = (long)NG * padded;                                          \
    for (int q = 0; q < NG; ++q)                                                \
        for (int g = 0; g < NB; ++g)                                            \
            acc[q][g] = CELL == SKLSTM_GRU && !PROJECT && q == 2                \
                ? SKLSTM_LOAD(V, u_bias + u + L * g)                            \
                : SKLSTM_LOAD(V, init + q * padded + u + L * g);                \
    for (int p = 0; p < n_parts; ++p)                                           \
        sklstm_gate_sums_##ISA##_##S(NB, NG, part_width, x + p * part_stride,   \
                                     rows + p * part_width * ld + u, ld,        \
                                     padded, backwards, acc);                   \
    for (int g = 0; g < NB; ++g) {                                              \
        if (PROJECT) {                                                          \
            for (int q = 0; q < NG; ++q)                                        \
                SKLSTM_STORE(V, out + q * padded + u + L * g, acc[q][g]);       \
            continue;                                                           \
        }                                                                       \
        if (CELL == SKLSTM_GRU) {                                               \
            sklstm_##V gates[3] = {acc[0][g], acc[1][g],                        \
                SKLSTM_LOAD(V, init + 2 * padded + u + L * g)};                 \
            sklstm_gru_cell_##V(gates, acc[2][g], SKLSTM_LOAD(V, x + u + L * g),\
                                &h);                                            \
            SKLSTM_STORE(V, out + u + L * g, h);                                \
            continue;                                                           \
        }                                                                       \
        sklstm_##V gates[1][4] = {{acc[0][g], acc[1][g], acc[2][g], acc[3][g]}};\
        const sklstm_##V prev = SKLSTM_LOAD(V, c + u + L * g);                  \
        sklstm_lstm_cells_##V(1, gates, &prev, &cell, &c_tanh, &h);             \
        SKLSTM_STORE(V, c + u + L * g, cell);                                   \
        SKLSTM_STORE(V, out + u + L * g, h);                                    \
    }                                                                           \
}                                                                               \
/* Every unit block, G at a time: NB is a constant in each call, so that the    \
   sums stay in registers. */                                                   \
TARGET SKLSTM_INLINE void                                                       \
sklstm_unit_groups_##ISA##_##S(const int CELL, const int PROJECT, int padded,   \
                               const T *init, int n_parts, int part_width,      \
                               const T *x, long part_stride, const T *rows,     \
                               int backwards, const T *u_bias, T *c, T *out)    \
{                                                                               \
    enum { L = SKLSTM_LANES(V), G = SKLSTM_GROUP(V) };                          \
    int u = 0;                                                                  \
    for (; u + L * G <= padded; u += L * G)                                     \
        sklstm_unit_group_##ISA##_##S(G, CELL, PROJECT, u, padded, init,        \
                                      n_parts, part_width, x, part_stride,      \
                                      rows, backwards, u_bias, c, out);         \
    const int rest = (padded - u) / L;     /* fewer than G blocks */            \
    if (rest == 3)                                                              \
        sklstm_unit_group_##ISA##_##S(G > 3 ? 3 : 1, CELL, PROJECT, u, padded,  \
                                      init, n_parts, part_width, x,             \
                                      part_stride, rows, backwards, u_bias, c,  \
                                      out);                                     \
    else if (rest == 2)                                                         \
        sklstm_unit_group_##ISA##_##S(G > 2 ? 2 : 1, CELL, PROJECT, u, padded,  \
                                      init, n_parts, part_width, x,             \
                                      part_stride, rows, backwards, u_bias, c,  \
                                      out);                                     \
    else if (rest == 1)                                                         \
        sklstm_unit_group_##ISA##_##S(1, CELL, PROJECT, u, padded, init,        \
                                      n_parts, part_width, x, part_stride,      \
                                      rows, backwards, u_bias, c, out);         \
}                                                                               \
TARGET SKLSTM_INLINE void sklstm_cell_recurrence_##ISA##_##S(                   \
    const int CELL, int n_steps, int units, int padded, const T *proj,          \
    const T *U, int reverse, T *out, long ldo, const T *h0, T *c,               \
    const T *u_bias)                                                            \
{                                                                               \
    const T *h = h0;                                                            \
    const long step = (long)SKLSTM_GATES(CELL) * padded;                        \
    for (int s = 0; s < n_steps; ++s) {                                         \
        const int t = reverse ? n_steps - 1 - s : s;                            \
        sklstm_unit_groups_##ISA##_##S(CELL, 0, padded, proj + t * step, 1,     \
                                       units, h, 0, U, s & 1, u_bias, c,        \
                                       out + (long)t * ldo);                    \
        h = out + (long)t * ldo;                                                \
    }                                                                           \
}                                                                               \
/* h0: h_{-1}; c: the LSTM's c_{-1} -> its last c (GRU: NULL); u_bias: the      \
   GRU's candidate recurrent bias, padded (LSTM: NULL). */                      \
TARGET static void sklstm_recurrence_##ISA##_##S(                               \
    int cell, int n_steps, int units, int padded, const T *proj, const T *U,    \
    int reverse, T *out, long ldo, const T *h0, T *c, const T *u_bias)          \
{                                                                               \
    if (cell == SKLSTM_GRU)                                                     \
        sklstm_cell_recurrence_##ISA##_##S(SKLSTM_GRU, n_steps, units, padded,  \
                                           proj, U, reverse, out, ldo, h0, c,   \
                                           u_bias);                             \
    else                                                                        \
        sklstm_cell_recurrence_##ISA##_##S(SKLSTM_LSTM, n_steps, units, padded, \
                                           proj, U, reverse, out, ldo, h0, c,   \
                                           u_bias);                             \
}                                                                               \
/* proj[t] = bias + the step's input @ W for every step, W's rows n_gates       \
   padded apart: for a W that stays in L1 from step to step, read where it is. */\
TARGET static void sklstm_project_##ISA##_##S(                                  \
    int cell, int n_steps, int n_parts, int part_width, const T *x, long ldx,   \
    long part_stride, const T *W, const T *bias, int padded, T *proj)           \
{                                                                               \
    for (int t = 0; t < n_steps; ++t) {                                         \
        if (cell == SKLSTM_GRU)                                                 \
            sklstm_unit_groups_##ISA##_##S(SKLSTM_GRU, 1, padded, bias,         \
                                           n_parts, part_width,                 \
                                           x + (long)t * ldx, part_stride, W,   \
                                           0, NULL, NULL,                       \
                                           proj + (long)t * 3 * padded);        \
        else                                                                    \
            sklstm_unit_groups_##ISA##_##S(SKLSTM_LSTM, 1, padded, bias,        \
                                           n_parts, part_width,                 \
                                           x + (long)t * ldx, part_stride, W,   \
                                           0, NULL, NULL,                       \
                                           proj + (long)t * 4 * padded);        \
    }                                                                           \
}

#define SKLSTM_SEQUENCE_KERNELS(T, S, P)                                        \
SKLSTM_EACH_ISA(SKLSTM_SEQUENCE, T, S, P)                                       \
static void sklstm_recurrence_##S(int cell, int n_steps, int units, int padded, \
                                  const T *proj, const T *U, int reverse,       \
                                  T *out, long ldo, const T *h0, T *c,          \
                                  const T *u_bias)                              \
{                                                                               \
    SKLSTM_DISPATCH(sklstm_recurrence, S, (cell, n_steps, units, padded, proj,  \
                    U, reverse, out, ldo, h0, c, u_bias))                       \
}                                                                               \
static void sklstm_project_##S(int cell, int n_steps, int n_parts,              \
                               int part_width, const T *x, long ldx,            \
                               long part_stride, const T *W, const T *bias,     \
                               int padded, T *proj)                             \
{                                                                               \
    SKLSTM_DISPATCH(sklstm_project, S, (cell, n_steps, n_parts, part_width, x,  \
                    ldx, part_stride, W, bias, padded, proj))                   \
}
SKLSTM_SEQUENCE_KERNELS(float, f, vf)
SKLSTM_SEQUENCE_KERNELS(double, d, vd)

#endif
