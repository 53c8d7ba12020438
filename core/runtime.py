"""Process-wide tuning for a small numerical engine on a shared 2-core machine (issue 4).

* glibc's allocator: by default blocks of 128 KB and up come from a fresh mmap, and
  freed heap tops go back to the OS beyond 128 KB (its dynamic thresholds then chase
  the sizes seen). A step allocates and frees a few (batch x hidden) arrays (2 MB at
  batch 1024, hidden 256), so they kept coming back as fresh pages whose faults cost
  more than the arithmetic. Blocks up to 32 MB now stay on the heap, and up to 64 MB
  of free heap stays in the process.
* OpenBLAS threads: the step's products are small (at most batch x hidden x d), and
  with a second BLAS thread competing for a core with the app's UI thread or any other
  job, one step took 10-50x longer (spinning threads). One thread unless the user
  set OPENBLAS_NUM_THREADS or OMP_NUM_THREADS.
Both are no-ops where the C library or the BLAS is something else. SMTUI_TUNE=none,
allocator or blas (default: both) picks which apply, for measuring them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for this setting on 64-bit
TRIM_THRESHOLD = 64 << 20
BLAS_THREADS = 1
_SET_THREADS = ("openblas_set_num_threads", "openblas_set_num_threads64_",
                "scipy_openblas_set_num_threads", "scipy_openblas_set_num_threads64_")


@functools.cache
def tune_process() -> tuple[bool, bool]:
    """Apply both settings once per process; (allocator tuned, BLAS threads set)."""
    which = os.environ.get("SMTUI_TUNE", "allocator,blas")
    return ("allocator" in which and tune_allocator(), "blas" in which and limit_blas_threads())


def tune_allocator() -> bool:
    """Set glibc's mmap and trim thresholds; False if the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def limit_blas_threads(n: int = BLAS_THREADS) -> bool:
    """Set the thread count of the OpenBLAS numpy loaded; False if none was found or the
    user chose a count through the environment."""
    if "OPENBLAS_NUM_THREADS" in os.environ or "OMP_NUM_THREADS" in os.environ:
        return False
    import numpy  # noqa: F401  (loads the BLAS)

    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return False
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SET_THREADS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter.argtypes, setter.restype = (ctypes.c_int,), None
                setter(n)
                return True
    return False
