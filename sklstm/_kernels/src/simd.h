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

/* The target of a helper on vectors V (vf_64, vd_32, ...) that needs one: the
   float64 activations on 64-byte vectors use AVX-512 instructions of their own
   (see vmath_width.inc), so they and the cells that call them carry its target;
   GCC inlines them only into functions of that target. */
#if SKLSTM_X86_DISPATCH
#define SKLSTM_VTARGET_vd_64 SKLSTM_AVX512
#else
#define SKLSTM_VTARGET_vd_64
#endif
#define SKLSTM_VTARGET_vf_64
#define SKLSTM_VTARGET_vf_32
#define SKLSTM_VTARGET_vf_16
#define SKLSTM_VTARGET_vd_32
#define SKLSTM_VTARGET_vd_16

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

/* DEFINE(T, S, ISA, TARGET, V) for each instruction set the build dispatches
   between, V being the vector of P (vf or vd) of that instruction set's width:
   the one place that lists them, for every kernel defined per instruction set. */
#if SKLSTM_X86_DISPATCH
#define SKLSTM_EACH_ISA(DEFINE, T, S, P)                                        \
DEFINE(T, S, avx512, SKLSTM_AVX512, P##_64)                                     \
DEFINE(T, S, avx2, SKLSTM_AVX2, P##_32)                                         \
DEFINE(T, S, base, , P##_16)
#else
#define SKLSTM_EACH_ISA(DEFINE, T, S, P) DEFINE(T, S, base, , P##_16)
#endif

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

/* Vectors of 64, 32 and 16 bytes (AVX-512, AVX2 and SSE2 registers) of each
   type, with the signed and unsigned integers of the same lanes for bit tests:
   sklstm_vf_64 is 16 floats, sklstm_vd_16 two doubles. Each instruction set's
   kernels work on vectors of its own width: GCC lowers wider generic vectors
   through the stack (a scalar broadcast took 16 stores). Unaligned loads and
   stores. */
#define SKLSTM_VECTORS(BYTES)                                                   \
typedef float sklstm_vf_##BYTES __attribute__((vector_size(BYTES), aligned(4)));\
typedef int sklstm_vif_##BYTES __attribute__((vector_size(BYTES), aligned(4))); \
typedef unsigned int sklstm_vuf_##BYTES                                         \
    __attribute__((vector_size(BYTES), aligned(4)));                            \
typedef double sklstm_vd_##BYTES __attribute__((vector_size(BYTES), aligned(8)));\
typedef long long sklstm_vid_##BYTES                                            \
    __attribute__((vector_size(BYTES), aligned(8)));                            \
typedef unsigned long long sklstm_vud_##BYTES                                   \
    __attribute__((vector_size(BYTES), aligned(8)));
SKLSTM_VECTORS(64)
SKLSTM_VECTORS(32)
SKLSTM_VECTORS(16)
#define SKLSTM_CAT_(a, b) a##b
#define SKLSTM_CAT(a, b) SKLSTM_CAT_(a, b)
/* A vector of type sklstm_V at p (V: vf_64, vd_32, ...), and its lanes. */
#define SKLSTM_LOAD(V, p) (*(const sklstm_##V *)(p))
#define SKLSTM_STORE(V, p, v) (*(sklstm_##V *)(p) = (v))
#define SKLSTM_LANES(V) ((int)(sizeof(sklstm_##V) / sizeof((sklstm_##V){0}[0])))
/* Lanes of the widest vector: a single sequence's gates are padded to whole
   vectors of it, which every narrower vector divides. */
#define SKLSTM_PAD_f 16
#define SKLSTM_PAD_d 8

#endif
