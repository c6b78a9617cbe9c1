/* The activations of the cell on 64-byte vectors: tanh and the logistic sigmoid
   for float (16 lanes) and double (8 lanes), inlined into each instruction set's
   kernels. The float ones are accurate to 2.4e-7 absolute, as Eigen's; the
   double ones to a few ulp (under 1e-15 relative, tested against libm over
   [-50, 50]), so that gradients still agree with finite differences. No libm
   call and no branch: NaN passes through, infinities saturate. */
#ifndef SKLSTM_VMATH_H
#define SKLSTM_VMATH_H

#include "simd.h"

/* tanh to 2.4e-7 absolute, as Eigen's float tanh: clamp (NaN passes), then a
   13/6 rational; plain arithmetic, so no input can overflow. */
SKLSTM_INLINE sklstm_v_f sklstm_tanh_v_f(sklstm_v_f x)
{
    const sklstm_v_f hi = (sklstm_v_f){0} + 7.90531110763549805f, lo = -hi;
    const sklstm_vi_f above = x > hi, below = x < lo;
    sklstm_vi_f bits = (sklstm_vi_f)x;
    bits = (bits & ~above) | ((sklstm_vi_f)hi & above);
    bits = (bits & ~below) | ((sklstm_vi_f)lo & below);
    x = (sklstm_v_f)bits;
    const sklstm_v_f x2 = x * x;
    sklstm_v_f p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    sklstm_v_f q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return x * p / q;
}

SKLSTM_INLINE sklstm_v_f sklstm_sigmoid_v_f(sklstm_v_f x)
{
    return 0.5f * sklstm_tanh_v_f(0.5f * x) + 0.5f;
}

/* Unsigned lanes make >> a logical shift, which SSE2 and AVX2 have (they lack a
   64-bit arithmetic shift). */
typedef unsigned long long sklstm_vu_d __attribute__((vector_size(64), aligned(8)));

#define SKLSTM_SPLAT_D(c) ((sklstm_v_d){ (c), (c), (c), (c), (c), (c), (c), (c) })
#define SKLSTM_ABSMASK 0x7fffffffffffffffLL
#define SKLSTM_BITS_INF 0x7ff0000000000000LL   /* +inf */
#define SKLSTM_BITS_746 0x4087500000000000LL   /* 746.0 */
#define SKLSTM_BITS_0625 0x3fe4000000000000LL  /* 0.625 */

/* Bitwise blend: lanes of m are all-ones (take a) or all-zeros (take b); C has no
   vector ?:. */
SKLSTM_INLINE sklstm_v_d
sklstm_select_d(sklstm_vi_d m, sklstm_v_d a, sklstm_v_d b)
{
    return (sklstm_v_d)((m & (sklstm_vi_d)a) | (~m & (sklstm_vi_d)b));
}

/* All-ones where d < 0 as an integer; integer masks stand in for vector compares,
   which GCC 12 scalarises at 64 bytes without AVX-512. */
SKLSTM_INLINE sklstm_vi_d
sklstm_negative_d(sklstm_vi_d d)
{
    return -(sklstm_vi_d)((sklstm_vu_d)d >> 63);
}

/* exp(x), max error ~1 ulp; overflows to +inf above ~709.78, underflows gradually
   through the subnormals to 0. */
SKLSTM_INLINE sklstm_v_d
sklstm_exp_v_d(sklstm_v_d x)
{
    /* Clamp |x| <= 746 (keeping inf -> +-746, NaN untouched) so n = round(x/ln2) stays
       in [-1076, 1076] and 2^n below never wraps. */
    sklstm_vi_d xi = (sklstm_vi_d)x, ai = xi & SKLSTM_ABSMASK;
    sklstm_vi_d big = sklstm_negative_d(SKLSTM_BITS_746 - ai)
                   & sklstm_negative_d(ai - (SKLSTM_BITS_INF + 1));
    x = sklstm_select_d(big, (sklstm_v_d)(SKLSTM_BITS_746 | (xi ^ ai)), x);

    /* Adding 1.5*2^52 rounds x*log2(e) to the nearest integer n and leaves n in the
       low mantissa bits of t. */
    sklstm_v_d t = x * 0x1.71547652b82fep+0 + 0x1.8p52;
    sklstm_v_d n = t - 0x1.8p52;

    /* Cody-Waite: ln2_hi has 21 trailing zero bits, so n*ln2_hi is exact and x -
       n*ln2_hi loses nothing. */
    sklstm_v_d r = x - n * 0x1.62e42fee00000p-1;   /* ln2_hi */
    r = r - n * 0x1.a39ef35793c76p-33;             /* ln2_lo */

    /* Taylor series to degree 13 (truncation < 5e-18 for |r| <= ln2/2), in Estrin form
       to shorten the FMA dependency chain. */
    sklstm_v_d r2 = r * r, r4 = r2 * r2;
    sklstm_v_d a0 = r * 0x1.5555555555555p-3 + 0.5;                    /* 1/2!  + r/3!  */
    sklstm_v_d a1 = r * 0x1.1111111111111p-7 + 0x1.5555555555555p-5;   /* 1/4!  + r/5!  */
    sklstm_v_d a2 = r * 0x1.a01a01a01a01ap-13 + 0x1.6c16c16c16c17p-10; /* 1/6!  + r/7!  */
    sklstm_v_d a3 = r * 0x1.71de3a556c734p-19 + 0x1.a01a01a01a01ap-16; /* 1/8!  + r/9!  */
    sklstm_v_d a4 = r * 0x1.ae64567f544e4p-26 + 0x1.27e4fb7789f5cp-22; /* 1/10! + r/11! */
    sklstm_v_d a5 = r * 0x1.6124613a86d09p-33 + 0x1.1eed8eff8d898p-29; /* 1/12! + r/13! */
    sklstm_v_d u = (a0 + r2 * a1) + r4 * ((a2 + r2 * a3) + r4 * (a4 + r2 * a5));
    /* Adding the exact leading terms 1 + r last keeps the rounding error of the tail
       below half an ulp. */
    sklstm_v_d p = 1.0 + (r + r2 * u);

    /* 2^n as two normal factors with biased exponents e1 + e2 = n + 2046, so the
       product rounds only once, into a subnormal if it must. */
    sklstm_vi_d m = (sklstm_vi_d)t - (0x4338000000000000LL - 2046);
    sklstm_vi_d e1 = (sklstm_vi_d)((sklstm_vu_d)m >> 1);
    sklstm_v_d s1 = (sklstm_v_d)(e1 << 52);
    sklstm_v_d s2 = (sklstm_v_d)((m - e1) << 52);
    return (p * s1) * s2;
}

/* tanh(x), max error a few ulp, relative accuracy kept down to the subnormals. */
SKLSTM_INLINE sklstm_v_d
sklstm_tanh_v_d(sklstm_v_d x)
{
    sklstm_vi_d xi = (sklstm_vi_d)x, ai = xi & SKLSTM_ABSMASK;
    sklstm_v_d ax = (sklstm_v_d)ai;
    /* Non-negative doubles order like their bit patterns (so ai - bits(0.625) < 0 iff
       |x| < 0.625); NaN lands above (large branch, which returns NaN). */
    sklstm_vi_d small = sklstm_negative_d(ai - SKLSTM_BITS_0625);

    /* |x| < 0.625: Cephes' x + x^3 P(x^2)/Q(x^2), because 1 - e would cancel as
       tanh(x) -> x. */
    sklstm_v_d x2 = ax * ax;
    sklstm_v_d ps = (-9.64399179425052238628E-1 * x2 - 9.92877231001918586564E1) * x2
                    - 1.61468768441708447952E3;
    sklstm_v_d qs = ((x2 + 1.12811678491632931402E2) * x2 + 2.23548839060100448583E3) * x2
                    + 4.84406305325125486048E3;

    /* |x| >= 0.625: (1 - e)/(1 + e) with e = exp(-2|x|) <= 0.29, so nothing cancels
       and e -> 0 gives exactly 1. */
    sklstm_v_d e = sklstm_exp_v_d(-2.0 * ax);

    /* Blend numerators and denominators so each vector pays for a single division. */
    sklstm_v_d num = sklstm_select_d(small, ax * x2 * ps, 1.0 - e);
    sklstm_v_d den = sklstm_select_d(small, qs, 1.0 + e);
    sklstm_v_d base = (sklstm_v_d)(small & ai);   /* |x| or +0 */
    sklstm_v_d y = base + num / den;

    /* tanh is odd: OR back the sign bit of x, which also maps -0 to -0. */
    return (sklstm_v_d)((sklstm_vi_d)y | (xi ^ ai));
}

/* sigmoid(x) = 1/(1 + exp(-x)), max error a few ulp, relative accuracy kept for tiny
   results (x << 0). */
SKLSTM_INLINE sklstm_v_d
sklstm_sigmoid_v_d(sklstm_v_d x)
{
    /* e = exp(-|x|) <= 1 never overflows, and e/(1+e) for x < 0 avoids computing 1 -
       (something near 1). */
    sklstm_vi_d xi = (sklstm_vi_d)x;
    sklstm_v_d e = sklstm_exp_v_d((sklstm_v_d)(xi | ~SKLSTM_ABSMASK));   /* -|x| */
    /* Sign-bit mask; -0 counts as negative, harmless since e/(1+e) = 1/(1+e) = 0.5
       there. */
    sklstm_vi_d neg = sklstm_negative_d(xi);
    return sklstm_select_d(neg, e, SKLSTM_SPLAT_D(1.0)) / (1.0 + e);
}
#undef SKLSTM_SPLAT_D
#undef SKLSTM_ABSMASK
#undef SKLSTM_BITS_INF
#undef SKLSTM_BITS_746
#undef SKLSTM_BITS_0625

/* out[i] = sigmoid(x[i]) (or tanh) over n values, a vector at a time: the
   activations exactly as the kernels compute them, for the tests of their
   precision. */
#define SKLSTM_ACTIVATIONS(T, S, ISA, TARGET)                                   \
TARGET static void sklstm_activations_##ISA##_##S(long n, const T *x, T *out,   \
                                                  int sigmoid)                  \
{                                                                               \
    enum { L = SKLSTM_LANES_##S };                                              \
    for (long i = 0; i < n; i += L) {                                           \
        T in[L], res[L];                                                        \
        for (int j = 0; j < L; ++j)                                             \
            in[j] = i + j < n ? x[i + j] : 0;                                   \
        const sklstm_v_##S v = SKLSTM_LOAD(S, in);                              \
        SKLSTM_STORE(S, res, sigmoid ? sklstm_sigmoid_v_##S(v)                  \
                                     : sklstm_tanh_v_##S(v));                   \
        for (int j = 0; j < L && i + j < n; ++j)                                \
            out[i + j] = res[j];                                                \
    }                                                                           \
}
#define SKLSTM_ACTIVATIONS_ALL(T, S)                                            \
SKLSTM_ACTIVATIONS_WIDE(T, S)                                                   \
SKLSTM_ACTIVATIONS(T, S, base, )                                                \
static void sklstm_activations_##S(long n, const T *x, T *out, int sigmoid)     \
{                                                                               \
    SKLSTM_DISPATCH(sklstm_activations, S, (n, x, out, sigmoid))                \
}
#if SKLSTM_X86_DISPATCH
#define SKLSTM_ACTIVATIONS_WIDE(T, S)                                           \
SKLSTM_ACTIVATIONS(T, S, avx512, SKLSTM_AVX512)                                 \
SKLSTM_ACTIVATIONS(T, S, avx2, SKLSTM_AVX2)
#else
#define SKLSTM_ACTIVATIONS_WIDE(T, S)
#endif

#endif
