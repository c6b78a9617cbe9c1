"""The thread team: how kernels split a minibatch between OpenMP threads.

Threads split a minibatch by rows (sequences), and each keeps its rows through
every step, every layer and the backward pass: on the VMs this project is measured
on, memory written on one core and read on the other crosses a cache line at a
time, up to a third of a microsecond each. Small work stays on one thread.

When another process keeps a core busy, an OpenMP thread loses its core for a
scheduler time slice (milliseconds) and every region it is part of ends that much
later: splitting short work then makes it many times slower. Each split region
compares its threads' CPU time with its wall time; after CONTENDED_LIMIT regions
in a row whose threads spent most of it waiting, kernels run on one thread for
BACKOFF_SECONDS, then try again. The backoff is short because the busy neighbour
is often transient, and each probe of a lasting one costs little. That state is
shared by every kernel call in the process, concurrent ones included, so it is
read and written through relaxed atomics. It never changes results: the chunks
depend only on the work and the thread count asked for, not on timing.
"""

cdef extern from "src/parallel.h":
    int _openmp_max_threads "sklstm_openmp_max_threads"() noexcept nogil
    double _thread_seconds "sklstm_thread_seconds"() noexcept nogil
    double _wall_seconds "sklstm_wall_seconds"() noexcept nogil
    bint HAS_CLOCKS "SKLSTM_HAS_CLOCKS"
    double _load_double "sklstm_load_double"(const double *p) noexcept nogil
    void _store_double "sklstm_store_double"(double *p, double v) noexcept nogil
    long _add_long "sklstm_add_long"(long *p, long v) noexcept nogil
    void _store_long "sklstm_store_long"(long *p, long v) noexcept nogil


# The least work (floating-point operations) worth a thread of its own.
cdef double MIN_CHUNK_FLOPS = 2e6
cdef double BACKOFF_SECONDS = 0.1
cdef long CONTENDED_LIMIT = 2
# Below this wall time a region is too short for its timing to mean anything.
cdef double MIN_TIMED_SECONDS = 20e-6
# Shared by every kernel call (see the module docstring): atomics only.
cdef long _contended_in_a_row = 0
cdef double _serial_until = 0
# Regions split between threads so far (read by tests through _tuning).
cdef long _split_regions = 0


def openmp_max_threads():
    """Threads an OpenMP region may use now; 1 if built without OpenMP.

    It follows ``OMP_NUM_THREADS``, ``threadpoolctl``'s limits and the limits
    joblib sets in its workers.
    """
    return _openmp_max_threads()


def _tuning(min_chunk_flops=None, backoff_seconds=None):
    """Read, or set, how the kernels split work (for tests and benchmarks).

    Returns the previous ``(min_chunk_flops, backoff_seconds, split_regions)``;
    setting ``backoff_seconds`` also ends a running backoff.
    """
    global MIN_CHUNK_FLOPS, BACKOFF_SECONDS
    old = (MIN_CHUNK_FLOPS, BACKOFF_SECONDS, _add_long(&_split_regions, 0))
    if min_chunk_flops is not None:
        MIN_CHUNK_FLOPS = min_chunk_flops
    if backoff_seconds is not None:
        BACKOFF_SECONDS = backoff_seconds
        _store_double(&_serial_until, 0)
    return old


def _back_off_now():
    """Start a backoff as if a region had just been kept waiting (for tests)."""
    _store_double(&_serial_until, _wall_seconds() + BACKOFF_SECONDS)


cdef int row_chunks(
    const int *batch_sizes, int n_steps, int batch, int n_chunks, int *bounds
) noexcept nogil:
    """Split the rows into ``n_chunks`` contiguous ranges of equal work.

    A row's work is its number of running steps (rows are sorted by decreasing
    length), so a ragged batch gives its longer first rows smaller ranges.
    ``bounds[c]:bounds[c + 1]`` is chunk ``c``; returns the number of chunks.
    """
    cdef long total = 0, done = 0
    cdef int t, r, c = 1, length = n_steps
    for t in range(n_steps):
        total += batch_sizes[t]
    bounds[0] = 0
    if n_chunks > batch:
        n_chunks = batch
    # Row r runs for `length` steps: the steps t with batch_sizes[t] > r.
    for r in range(batch):
        while length > 0 and batch_sizes[length - 1] <= r:
            length -= 1
        done += length
        if c < n_chunks and done * n_chunks >= total * c:
            bounds[c] = r + 1
            c += 1
    bounds[c] = batch
    return c


cdef int even_chunk(int size, int n_chunks, int chunk, int align) noexcept nogil:
    """Start of chunk ``chunk`` of ``n_chunks`` over ``size``, a multiple of align."""
    cdef long start
    if chunk >= n_chunks:
        return size
    start = (<long> size * chunk) // n_chunks
    start -= start % align
    return <int> start


cdef int n_chunks_for(int n_threads, double flops, long max_chunks) noexcept nogil:
    """Chunks worth a thread each: at least ``MIN_CHUNK_FLOPS`` of work per chunk.

    Every parallel region ends when its slowest thread does; on a busy machine a
    thread can lose its core for a scheduler time slice (milliseconds), so small
    work stays on one thread, where that cannot happen.
    """
    cdef long n = n_threads
    if flops < n_threads * MIN_CHUNK_FLOPS:
        n = <long> (flops / MIN_CHUNK_FLOPS)
    if n > n_threads:
        n = n_threads
    if n > max_chunks:
        n = max_chunks
    if n > MAX_CHUNKS:
        n = MAX_CHUNKS
    return <int> n if n > 1 else 1


cdef int team_for(int n_chunks) noexcept nogil:
    """Threads to run ``n_chunks`` chunks: one while backing off, else one each.

    Each chunk does the same arithmetic whichever thread runs it, so a fit
    repeated with the same random_state gives the same model whether or not the
    machine was busy meanwhile.
    """
    if (n_chunks > 1 and HAS_CLOCKS
            and _wall_seconds() < _load_double(&_serial_until)):
        return 1
    return n_chunks


cdef double clock_if_split(int team) noexcept nogil:
    """The wall clock at the start of a region, read only if threads split it.

    Only split regions are checked for contention, and on a VM whose clock has
    no vDSO path every read is a system call.
    """
    return _wall_seconds() if team > 1 else 0


cdef double thread_clock_if_split(int team) noexcept nogil:
    """A thread's CPU time in a region, read only if threads split it."""
    return _thread_seconds() if team > 1 else 0


cdef void check_contention(const double *busy, int n_chunks, int team,
                           double started) noexcept nogil:
    """After a split region: back off if its threads were mostly kept waiting."""
    cdef double wall, total = 0
    cdef int c
    if team < 2:
        return
    _add_long(&_split_regions, 1)
    if not HAS_CLOCKS:
        return
    wall = _wall_seconds() - started
    for c in range(n_chunks):
        total += busy[c]
    if wall > MIN_TIMED_SECONDS and total < 0.5 * team * wall:
        if _add_long(&_contended_in_a_row, 1) >= CONTENDED_LIMIT:
            _store_double(&_serial_until, _wall_seconds() + BACKOFF_SECONDS)
            _store_long(&_contended_in_a_row, 0)
    else:
        _store_long(&_contended_in_a_row, 0)
