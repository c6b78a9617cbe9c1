# The thread team: how the kernels split their work between OpenMP threads.

cdef enum:
    # Upper bound on the threads one kernel call splits its work over.
    MAX_CHUNKS = 64

cdef int row_chunks(const int *batch_sizes, int n_steps, int batch, int n_chunks,
                    int *bounds) noexcept nogil
cdef int even_chunk(int size, int n_chunks, int chunk, int align) noexcept nogil
cdef int n_chunks_for(int n_threads, double flops, long max_chunks) noexcept nogil
cdef int team_for(int n_chunks) noexcept nogil
cdef double clock_if_split(int team) noexcept nogil
cdef double thread_clock_if_split(int team) noexcept nogil
cdef void check_contention(const double *busy, int n_chunks, int team,
                           double started) noexcept nogil
