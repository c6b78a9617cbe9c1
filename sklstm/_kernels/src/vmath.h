/* The activations of the cell on 64-byte vectors: tanh and the logistic sigmoid
   for float (16 lanes) and double (8 lanes), inlined into each instruction set's
   kernels. The float ones are accurate to 2.4e-7 absolute, as Eigen's; the
   double ones to a few ulp (under 1e-15 relative, tested against libm over
   [-50, 50]), so that gradients still agree with finite differences. No libm
   call and no branch: NaN passes through, infinities saturate. */
#ifndef SKLSTM_VMATH_H
#define SKLSTM_VMATH_H

#include "simd.h"
#if SKLSTM_X86_DISPATCH
#include <immintrin.h>
#endif

#define SKLSTM_ABSMASK 0x7fffffffffffffffLL
#define SKLSTM_BITS_INF 0x7ff0000000000000LL   /* +inf */
#define SKLSTM_BITS_746 0x4087500000000000LL   /* 746.0 */
#define SKLSTM_WIDTH 64
#include "vmath_width.inc"
#undef SKLSTM_WIDTH
#define SKLSTM_WIDTH 32
#include "vmath_width.inc"
#undef SKLSTM_WIDTH
#define SKLSTM_WIDTH 16
#include "vmath_width.inc"
#undef SKLSTM_WIDTH
#undef SKLSTM_ABSMASK
#undef SKLSTM_BITS_INF
#undef SKLSTM_BITS_746

/* out[i] = sigmoid(x[i]) (or tanh) over n values, a vector of the instruction
   set's width at a time: the activations exactly as the kernels compute them,
   for the tests of their precision. */
#define SKLSTM_ACTIVATIONS(T, S, ISA, TARGET, V)                                \
TARGET static void sklstm_activations_##ISA##_##S(long n, const T *x, T *out,   \
                                                  int sigmoid)                  \
{                                                                               \
    enum { L = SKLSTM_LANES(V) };                                               \
    for (long i = 0; i < n; i += L) {                                           \
        T in[L], res[L];                                                        \
        for (int j = 0; j < L; ++j)                                             \
            in[j] = i + j < n ? x[i + j] : 0;                                   \
        const sklstm_##V v = SKLSTM_LOAD(V, in);                                \
        SKLSTM_STORE(V, res, sigmoid ? sklstm_sigmoid_##V(v)                    \
                                     : sklstm_tanh_##V(v));                     \
        for (int j = 0; j < L && i + j < n; ++j)                                \
            out[i + j] = res[j];                                                \
    }                                                                           \
}
#define SKLSTM_ACTIVATIONS_ALL(T, S, P)                                         \
SKLSTM_EACH_ISA(SKLSTM_ACTIVATIONS, T, S, P)                                    \
static inline void sklstm_activations_##S(long n, const T *x, T *out, int sigmoid) \
{                                                                               \
    SKLSTM_DISPATCH(sklstm_activations, S, (n, x, out, sigmoid))                \
}

#endif
