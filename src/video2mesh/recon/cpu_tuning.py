"""Process settings for CPU training: keep freed tensor memory, flush denormals to zero.

Measured together: 6.6 → 8.1 iterations/s of the CPU preset on one core (+23 %, 3 runs of 60
iterations each, CPU time; benchmarks/recon/RESULTS.md, session 3).

Memory: an iteration of the CPU preset allocates dozens of 4-16 MB tensors. glibc serves those with
mmap and returns them with munmap (or trims the heap), so every iteration page-faults ~1 GB
of fresh zeroed pages: the profile showed fill_/copy_ of [61440, 64] tensors at ~10 ns per
element. Raising the mmap and trim thresholds keeps the pages (+19 % alone). A no-op where
libc is not glibc.

Denormals: softplus with β = 100 (the SDF MLP's activation) maps every pre-activation below
about -0.9 to a float32 denormal, and x86 arithmetic on denormals is slow (+7 % alone).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import torch

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's ceiling on 64-bit (HEAP_MAX_SIZE / 2)


def keep_freed_memory() -> bool:
    """Apply the settings to this process; True if glibc accepted them."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl, macOS: no mallopt
        return False
    ok = all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX),
            (_M_TRIM_THRESHOLD, 2**31 - 1),
            (_M_TOP_PAD, 256 * 2**20),
        )
    )
    log.debug("malloc settings %s", "applied" if ok else "refused")
    return ok


def tune_cpu_training() -> None:
    """Both settings; flushing denormals only changes values below 1.2e-38."""
    keep_freed_memory()
    torch.set_flush_denormal(True)
