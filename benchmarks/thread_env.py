"""Thread counts for a benchmark run, fixed before NumPy, Numba or PyTorch load.

BLAS and Numba read their thread counts once, when they load, so every benchmark sets
them at the top of the script, before its other imports. This module imports nothing
that would load them.
"""
from __future__ import annotations

import os

#: The variables that OpenMP, OpenBLAS, MKL and Numba read their thread counts from.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def pin_threads(threads: int) -> None:
    """Set every library's thread count to ``threads`` (call before importing NumPy)."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
