"""Small C probes of the machine the benchmarks run on, compiled on the spot.

- ``read_rate``: how fast one core re-reads a buffer of a given size (the floor
  of a single-sequence prediction, see ``bench_latency_floor.py``);
- ``core_round_trip_ns``: how long a cache line takes to go from one core to
  another and back. On the shared VMs this project is measured on it is 60-80 ns
  most of the time and 330-350 ns in windows where the host places the two
  vCPUs far apart; work split between two threads then slows down (a stacked
  training epoch: 12 ms -> 23 ms, against 16 ms on one thread), so the timing
  benchmark records it before and after its run.

They are compiled with the C compiler that builds sklstm (``cc -O2
-march=native``); ``build`` returns None when that fails, and the callers go on
without the probe.
"""

import ctypes
import shutil
import statistics
import subprocess
import sysconfig
from pathlib import Path

import numpy as np

FLOAT32_BYTES = 4

SOURCE = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Seconds per read of n floats, best of `repeats` timings of `passes` reads:
   eight independent sums of 64-byte vectors, so that the loads, not the adds,
   set the pace. */
typedef float vec __attribute__((vector_size(64), aligned(4)));
volatile float sklstm_probe_sink;
double read_seconds(const float *b, long n, int passes, int repeats) {
    double best = 1e30;
    for (int r = 0; r < repeats; ++r) {
        vec s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0},
            s7 = {0};
        double start = now();
        for (int p = 0; p < passes; ++p) {
            for (long i = 0; i + 128 <= n; i += 128) {
                s0 += *(const vec *)(b + i);       s1 += *(const vec *)(b + i + 16);
                s2 += *(const vec *)(b + i + 32);  s3 += *(const vec *)(b + i + 48);
                s4 += *(const vec *)(b + i + 64);  s5 += *(const vec *)(b + i + 80);
                s6 += *(const vec *)(b + i + 96);  s7 += *(const vec *)(b + i + 112);
            }
            __asm__ volatile("" ::: "memory");  /* read b again at every pass */
        }
        double seconds = (now() - start) / passes;
        vec s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
        sklstm_probe_sink = s[0];
        if (seconds < best) best = seconds;
    }
    return best;
}

/* Nanoseconds for a cache line to go from CPU a to CPU b and back: two threads
   pinned to them pass a flag back and forth. -1 if they cannot be pinned. */
static volatile int ping __attribute__((aligned(64)));
static int rounds_wanted;
static int pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}
static void *answer(void *cpu) {
    pin(*(int *)cpu);                   /* checked by the caller beforehand */
    for (int i = 0; i < rounds_wanted; ++i) {
        while (ping != 1) {}
        ping = 0;
    }
    return 0;
}
double round_trip_ns(int cpu_a, int cpu_b, int rounds) {
    pthread_t thread;
    cpu_set_t saved;
    pthread_getaffinity_np(pthread_self(), sizeof saved, &saved);
    double result = -1;
    if (pin(cpu_b) == 0 && pin(cpu_a) == 0) {
        ping = 0;
        rounds_wanted = rounds;
        if (pthread_create(&thread, 0, answer, &cpu_b) == 0) {
            double start = now();
            for (int i = 0; i < rounds; ++i) {
                ping = 1;
                while (ping == 1) {}
            }
            result = 1e9 * (now() - start) / rounds;
            pthread_join(thread, 0);
        }
    }
    pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    return result;
}
"""


def build(directory):
    """Compile the probes into ``directory`` and load them; None on failure."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        compiler = "cc"
    source = Path(directory) / "probes.c"
    library = Path(directory) / "probes.so"
    source.write_text(SOURCE)
    command = [compiler, "-O2", "-march=native", "-shared", "-fPIC", "-pthread"]
    try:
        subprocess.run(
            command + [str(source), "-o", str(library)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    probes = ctypes.CDLL(str(library))
    probes.read_seconds.restype = ctypes.c_double
    probes.read_seconds.argtypes = [
        ctypes.c_void_p,
        ctypes.c_long,
        ctypes.c_int,
        ctypes.c_int,
    ]
    probes.round_trip_ns.restype = ctypes.c_double
    probes.round_trip_ns.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return probes


def read_rate(probes, n_bytes):
    """Bytes per second at which one core re-reads a buffer of ``n_bytes``."""
    n = max(128, n_bytes // FLOAT32_BYTES // 128 * 128)
    buffer = np.ones(n, dtype=np.float32)
    passes = max(10, int(2e7 // n_bytes))
    seconds = probes.read_seconds(buffer.ctypes.data, n, passes, 7)
    return n * FLOAT32_BYTES / seconds


def core_round_trip_ns(probes, cpus=(0, 1), rounds=200_000, repeats=3):
    """Median round trip of a cache line between two CPUs; None if unavailable."""
    if probes is None:
        return None
    times = [probes.round_trip_ns(*cpus, rounds) for _ in range(repeats)]
    if min(times) < 0:
        return None
    return statistics.median(times)
