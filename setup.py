"""Build the Cython kernels; all other metadata lives in pyproject.toml."""

import glob
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

# One extension a kernel module; they share declarations through .pxd files and
# the C of sklstm/_kernels/src (included by the generated C files, next to them).
KERNEL_MODULES = (
    "_layout",
    "_parallel",
    "_train",
    "_epoch",
    "_predict",
    "_optim",
    "_array",
)

# -fno-math-errno lets GCC vectorise the optimizers' square roots, and
# -fno-trapping-math the elementwise loops; the kernels never rely on FP traps
# or errno.
OPTIMIZE = ["-O3", "-fno-trapping-math", "-fno-math-errno"]

extensions = [
    Extension(
        f"sklstm._kernels.{name}",
        [f"sklstm/_kernels/{name}.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        extra_compile_args=["-O0", "-g"] if DEBUG else list(OPTIMIZE),
        # The C headers and declarations it includes: a change rebuilds it.
        depends=glob.glob("sklstm/_kernels/src/*.h")
        + glob.glob("sklstm/_kernels/src/*.inc")
        + glob.glob("sklstm/_kernels/*.pxd"),
    )
    for name in KERNEL_MODULES
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
