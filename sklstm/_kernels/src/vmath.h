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

/* 2^(j/16) for j = 0..15, to double precision, and what rounding left out:
   the table of AVX-512's double exp (vmath_width.inc). */
static const double sklstm_exp2_16ths_hi[16] = {
    0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0,
    0x1.2387a6e756238p+0, 0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0,
    0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0, 0x1.6a09e667f3bcdp+0,
    0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
    0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0,
    0x1.ea4afa2a490dap+0
};
static const double sklstm_exp2_16ths_lo[16] = {
    0x0.0p+0, 0x1.8a62e4adc610bp-54, -0x1.19041b9d78a76p-55,
    0x1.9b07eb6c70573p-54, 0x1.6f46ad23182e4p-55, 0x1.ada0911f09ebcp-55,
    0x1.d4397afec42e2p-56, 0x1.6324c054647adp-54, -0x1.bdd3413b26456p-54,
    -0x1.41577ee04992fp-55, 0x1.6e9f156864b27p-54, 0x1.c7c46b071f2bep-56,
    0x1.7a1cd345dcc81p-54, 0x1.11065895048ddp-55, 0x1.2ed02d75b3707p-55,
    -0x1.e9c23179c2893p-54
};

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
