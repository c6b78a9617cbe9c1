"""Build the Cython kernels; all other metadata lives in pyproject.toml."""

import os
import sys
import tempfile
import textwrap

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# SKLSTM_DEBUG_CYTHON=1 builds the kernels with bounds and None checks back on, so
# that the test suite can catch an out-of-range index instead of reading garbage.
DEBUG = os.environ.get("SKLSTM_DEBUG_CYTHON", "0") == "1"

COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "nonecheck": DEBUG,
    "cdivision": True,
}

extensions = [
    Extension(
        "sklstm._lstm_fast",
        ["sklstm/_lstm_fast.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        # -fno-math-errno lets GCC vectorise the optimizers' square roots;
        # -fno-trapping-math was for the float activations' clamps and division,
        # now written in vector types (with or without it: within 3%, measured).
        # The kernels never rely on FP traps or errno.
        extra_compile_args=["-O3", "-fno-trapping-math", "-fno-math-errno"]
        if not DEBUG
        else ["-O0", "-g"],
    )
]


# The OpenMP flag of each compiler family; a compiler that fails a test build with
# it (Apple's clang without libomp, say) builds the kernels single-threaded.
OPENMP_FLAGS = {"msvc": (["/openmp"], []), "unix": (["-fopenmp"], ["-fopenmp"])}
OPENMP_TEST = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
    """
)


def openmp_flags(compiler):
    """(compile, link) flags that build and link an OpenMP program, or None."""
    flags = OPENMP_FLAGS.get(compiler.compiler_type)
    if flags is None or os.environ.get("SKLSTM_NO_OPENMP", "0") == "1":
        return None
    compile_flags, link_flags = flags
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "openmp_test.c")
        with open(source, "w") as f:
            f.write(OPENMP_TEST)
        try:
            objects = compiler.compile(
                [source], output_dir=tmp, extra_postargs=compile_flags
            )
            compiler.link_executable(
                objects, "openmp_test", output_dir=tmp, extra_postargs=link_flags
            )
        except Exception:  # noqa: BLE001 - any failure means: no OpenMP here
            print("sklstm: OpenMP unavailable, building single-threaded kernels",
                  file=sys.stderr)
            return None
    return flags


class BuildExtWithOpenMP(build_ext):
    """Add the compiler's OpenMP flags to every extension, if it has OpenMP."""

    def build_extensions(self):
        flags = openmp_flags(self.compiler)
        if flags is not None:
            for extension in self.extensions:
                extension.extra_compile_args += flags[0]
                extension.extra_link_args += flags[1]
        super().build_extensions()


setup(
    ext_modules=cythonize(extensions, compiler_directives=COMPILER_DIRECTIVES),
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
