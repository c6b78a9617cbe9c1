"""Build the Cython kernels; all other metadata lives in pyproject.toml."""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

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
        # -fno-trapping-math lets GCC vectorise the branch-free clamps followed by a
        # division in the float activations; the kernels never rely on FP traps.
        extra_compile_args=["-O3", "-fno-trapping-math"]
        if not DEBUG
        else ["-O0", "-g"],
    )
]

setup(
    ext_modules=cythonize(extensions, compiler_directives=COMPILER_DIRECTIVES),
)
