"""CPU training's process settings (recon/cpu_tuning.py; speed measured in benchmarks/recon)."""

import platform

import pytest
import torch

from video2mesh.recon.cpu_tuning import keep_freed_memory, tune_cpu_training


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_glibc_accepts_the_malloc_settings():
    assert keep_freed_memory()


def test_denormals_are_flushed_during_cpu_training_settings():
    tiny = torch.tensor([1e-39])  # a float32 denormal
    try:
        tune_cpu_training()
        assert (tiny * 1.0).item() == 0.0
    finally:
        torch.set_flush_denormal(False)
    assert (tiny * 1.0).item() > 0.0  # restored, as run_segment does after a segment
