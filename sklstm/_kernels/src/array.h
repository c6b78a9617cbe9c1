/* Array checks the Python side calls on every prediction, and the cell's
   activations over an array, for their tests. */
#ifndef SKLSTM_ARRAY_H
#define SKLSTM_ARRAY_H

#include <stdint.h>
#include <string.h>
#include "simd.h"
#include "vmath.h"

/* Whether n contiguous values are all finite: an exponent of all ones means NaN
   or infinity. Integer tests on the bits, OR-ed together, so that GCC
   vectorises the loop (a sum of x * 0 had to wait on each addition). */
#define SKLSTM_ALL_FINITE(T, U, EXPONENT, S)                                    \
SKLSTM_CLONES static int sklstm_all_finite_##S(long n, const T *restrict x)     \
{                                                                               \
    U bad = 0;                                                                  \
    for (long i = 0; i < n; ++i) {                                              \
        U bits;                                                                 \
        memcpy(&bits, x + i, sizeof bits);                                      \
        bad |= (bits & EXPONENT) == EXPONENT;                                   \
    }                                                                           \
    return bad == 0;                                                            \
}
SKLSTM_ALL_FINITE(float, uint32_t, 0x7f800000u, f)
SKLSTM_ALL_FINITE(double, uint64_t, 0x7ff0000000000000ull, d)

SKLSTM_ACTIVATIONS_ALL(float, f, vf)
SKLSTM_ACTIVATIONS_ALL(double, d, vd)

#endif
