"""GPU models and AI Training flavors: the one GPU-model normaliser, the built-in model table,
and the region's own offer (``GET /v1/capabilities/flavor``) checked at start.

Dependency-free on purpose: workflows may import :func:`normalise_gpu_model` for their own
per-model tables (memory, compute capability) so that a rule's ``gpu_model`` means one thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# Normalised gpu_model -> flavor id, from the official flavor lists (ovh-real-api-notes.md).
# Used when the region's list cannot be read; the region's list wins otherwise. No official
# list shows an A10 flavor: a guessed id would only be refused at submission.
BUILTIN_GPU_FLAVORS: dict[str, str] = {
    "V100S": "ai1-1-gpu",
    "A100": "a100-1-gpu",
    "H100": "h100-1-gpu",
    "L40S": "l40s-1-gpu",
    "L4": "l4-1-gpu",
}
_NOISE = ("NVIDIA", "TESLA", "AMPERE", "GEFORCE")


def normalise_gpu_model(model: object, known: Iterable[str] = ()) -> str:
    """'NVIDIA H100 80GB HBM3', 'h100', 'Tesla-V100S', 'Ampere-A100', 'L40s' -> 'H100',
    'V100S', 'A100', 'L40S'.

    Upper-case alphanumerics without vendor words; with ``known`` models, a longer name that
    starts with one of them (and continues with a digit) maps to the longest such model
    ('H10080GBHBM3' -> 'H100', but 'A10' stays 'A10', not 'A100').
    """
    text = re.sub(r"[^A-Z0-9]", "", str(model or "").upper())
    for noise in _NOISE:
        text = text.replace(noise, "")
    names = set(known)
    if not names or text in names:
        return text
    for key in sorted(names, key=len, reverse=True):
        if text.startswith(key) and not text[len(key) : len(key) + 1].isalpha():
            return key
    return text


def region_gpu_flavors(flavors: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Normalised GPU model -> flavor id from the capabilities list (a default flavor wins
    among several of one model, e.g. ai1-1-gpu over ai1-le-1-gpu)."""
    table: dict[str, str] = {}
    ordered = sorted(flavors, key=lambda f: not f.get("default"))
    for flavor in ordered:
        info = flavor.get("gpuInformation") or {}
        if flavor.get("type") != "gpu" or not info.get("gpuModel") or not flavor.get("id"):
            continue
        table.setdefault(normalise_gpu_model(info["gpuModel"]), str(flavor["id"]))
    return table


def flavor_limits(flavors: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Flavor id -> its ``max`` units per job (0 when not given)."""
    return {str(f["id"]): int(f.get("max") or 0) for f in flavors if f.get("id")}


def gpu_flavor_table(
    extra: Mapping[str, str] | None, region: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The model table a job's ``gpu_model`` is looked up in: the region's offer (else the
    built-in table), then the user's ``--ovh-gpu-flavors`` on top."""
    table = dict(region) if region else dict(BUILTIN_GPU_FLAVORS)
    for model, flavor in (extra or {}).items():
        table[normalise_gpu_model(model)] = flavor
    return table
