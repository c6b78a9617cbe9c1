/* Clocks for the thread team, and relaxed atomic access to its shared state:
   concurrent predictions from several Python threads run kernels at once, and
   each may update the backoff state from its own OpenMP region. */
#ifndef SKLSTM_PARALLEL_H
#define SKLSTM_PARALLEL_H

#ifdef _OPENMP
#include <omp.h>
static int sklstm_openmp_max_threads(void) { return omp_get_max_threads(); }
#else
static int sklstm_openmp_max_threads(void) { return 1; }
#endif

#if defined(__unix__) || defined(__APPLE__)
#include <time.h>
/* CPU time of the calling thread, and a monotonic wall clock (seconds). */
static double sklstm_thread_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double sklstm_wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#define SKLSTM_HAS_CLOCKS 1
#else
static double sklstm_thread_seconds(void) { return 0; }
static double sklstm_wall_seconds(void) { return 0; }
#define SKLSTM_HAS_CLOCKS 0
#endif

#if defined(__GNUC__) || defined(__clang__)
static double sklstm_load_double(const double *p) {
    double v;
    __atomic_load(p, &v, __ATOMIC_RELAXED);
    return v;
}
static void sklstm_store_double(double *p, double v) {
    __atomic_store(p, &v, __ATOMIC_RELAXED);
}
static long sklstm_add_long(long *p, long v) {
    return __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}
static void sklstm_store_long(long *p, long v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
#else
/* Aligned 8-byte accesses are single instructions on the platforms MSVC
   targets; the counters are heuristics, where a lost increment does no harm. */
static double sklstm_load_double(const double *p) { return *(volatile const double *)p; }
static void sklstm_store_double(double *p, double v) { *(volatile double *)p = v; }
static long sklstm_add_long(long *p, long v) { return *(volatile long *)p += v; }
static void sklstm_store_long(long *p, long v) { *(volatile long *)p = v; }
#endif

#endif
