/* Instruction-set dispatch and the 64-byte vector types every kernel uses.

   GCC on x86-64 Linux builds AVX-512 and AVX2 variants of the hot functions
   beside the baseline (SSE2) one and picks one at run time for the CPU at hand.
   SKLSTM_MAX_ISA (avx512, avx2 or baseline), read once per process, caps the
   choice: the test suite runs the narrower kernels that way on any machine. */
#ifndef SKLSTM_SIMD_H
#define SKLSTM_SIMD_H

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
/* The 64-byte vectors live in always-inlined helpers: no call passes one, so
   GCC's note about the ABI of such calls without AVX-512 does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)             \
    && defined(__linux__)
#define SKLSTM_X86_DISPATCH 1
/* Loops that GCC vectorises by itself: one clone per instruction set. */
#define SKLSTM_CLONES                                                           \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define SKLSTM_AVX512 __attribute__((target("avx512f,fma")))
#define SKLSTM_AVX2 __attribute__((target("avx2,fma")))
#else
#define SKLSTM_X86_DISPATCH 0
#define SKLSTM_CLONES
#endif

#define SKLSTM_INLINE static inline __attribute__((always_inline))

/* The widest instruction set to use: 2 AVX-512, 1 AVX2, 0 the baseline. */
static int sklstm_isa_cap(void)
{
    const char *cap = getenv("SKLSTM_MAX_ISA");
    if (cap == NULL || strcmp(cap, "avx512") == 0)
        return 2;
    if (strcmp(cap, "avx2") == 0)
        return 1;
    return 0;
}

static int sklstm_widest_isa(void)
{
    /* -1 until the first call; racing first calls store the same value. */
    static int widest = -1;
    int isa = __atomic_load_n(&widest, __ATOMIC_RELAXED);
    if (isa >= 0)
        return isa;
    const int cap = sklstm_isa_cap();
    isa = 0;
#if SKLSTM_X86_DISPATCH
    if (cap >= 2 && __builtin_cpu_supports("avx512f"))
        isa = 2;
    else if (cap >= 1 && __builtin_cpu_supports("avx2")
             && __builtin_cpu_supports("fma"))
        isa = 1;
#else
    (void)cap;
#endif
    __atomic_store_n(&widest, isa, __ATOMIC_RELAXED);
    return isa;
}

/* NAME_avx512_S ARGS, or the AVX2 or baseline one, as sklstm_widest_isa says. */
#if SKLSTM_X86_DISPATCH
#define SKLSTM_DISPATCH(NAME, S, ARGS)                                          \
    switch (sklstm_widest_isa()) {                                              \
    case 2: NAME##_avx512_##S ARGS; break;                                      \
    case 1: NAME##_avx2_##S ARGS; break;                                        \
    default: NAME##_base_##S ARGS;                                              \
    }
#else
#define SKLSTM_DISPATCH(NAME, S, ARGS) NAME##_base_##S ARGS;
#endif

/* One 64-byte vector of each type (16 floats, 8 doubles), with the integer
   vector of the same lanes for bit tests; unaligned loads and stores. */
typedef float sklstm_v_f __attribute__((vector_size(64), aligned(4)));
typedef int sklstm_vi_f __attribute__((vector_size(64), aligned(4)));
typedef double sklstm_v_d __attribute__((vector_size(64), aligned(8)));
typedef long long sklstm_vi_d __attribute__((vector_size(64), aligned(8)));
#define SKLSTM_LANES_f 16
#define SKLSTM_LANES_d 8
#define SKLSTM_LOAD(S, p) (*(const sklstm_v_##S *)(p))
#define SKLSTM_STORE(S, p, v) (*(sklstm_v_##S *)(p) = (v))

#endif
