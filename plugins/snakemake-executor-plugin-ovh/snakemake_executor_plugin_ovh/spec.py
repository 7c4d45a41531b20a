"""Snakemake job -> AI Training ``JobSpec``: image, command, envVars, resources, timeout, labels."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from snakemake_interface_common.exceptions import WorkflowError

from .flavors import gpu_flavor_table, normalise_gpu_model

MAX_GPUS_PER_JOB = 4
MAX_CPUS_PER_JOB = 12
RUN_LABEL = "snakemake-run"
# Who submitted a job, so that a later run can find what a dead one left running:
# the workflow (working directory + storage prefix), the submitting host and process.
WORKFLOW_LABEL = "snakemake-workflow"
HOST_LABEL = "snakemake-host"
PID_LABEL = "snakemake-pid"
OUTPUT_LABEL = "snakemake-output"

_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


class ResourceLookup(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...


@dataclass(frozen=True)
class SpecOptions:
    """The settings a job spec depends on (decoupled from the CLI dataclass for testing)."""

    image: str
    flavor: str = "ai1-1-gpu"
    cpu_flavor: str = "ai1-1-cpu"
    gpu_flavors: Mapping[str, str] | None = None
    default_timeout: int = 86400
    timeout_margin: int = 900
    labels: Mapping[str, str] | None = None
    # from the region's GET /v1/capabilities/flavor (None: not read, built-in table)
    region_gpu_flavors: Mapping[str, str] | None = None
    flavor_max: Mapping[str, int] | None = None


def sanitize_label(value: object, max_len: int = 63) -> str:
    """A label key/value safe for k8s-like selectors: [A-Za-z0-9_.-], alnum at both ends.

    Wildcard values may contain '/', spaces or anything else: all runs of other characters
    become '_'.
    """
    text = _LABEL_BAD.sub("_", str(value))[:max_len].strip("_.-")
    return text or "x"


def parse_mapping(text: str | None, what: str) -> dict[str, str]:
    """Parse 'k=v,k2=v2' (from a CLI/profile setting)."""
    result: dict[str, str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise WorkflowError(f"invalid {what} entry {item!r}: expected KEY=VALUE")
        result[key.strip()] = value.strip()
    return result


def _int_resource(resources: ResourceLookup, *names: str) -> int:
    for name in names:
        value = resources.get(name, None)
        if value in (None, ""):
            continue
        try:
            return int(value)
        except (TypeError, ValueError):
            # googlebatch-style nvidia_gpu="nvidia-tesla-t4": a model, count 1
            return 1
    return 0


def resolve_resources(resources: ResourceLookup, options: SpecOptions) -> dict[str, Any]:
    """Map Snakemake resources to AI Training ``resources``.

    ``ovh_flavor`` wins; otherwise ``gpu``/``nvidia_gpu`` count with ``gpu_model`` mapped to a
    flavor (default flavor if no model); no GPU means the CPU flavor with ``_cores`` vCPUs.
    """
    gpus = _int_resource(resources, "gpu", "nvidia_gpu")
    flavor = resources.get("ovh_flavor", None)
    model = resources.get("gpu_model", None)
    if not flavor and gpus > 0:
        if model:
            table = gpu_flavor_table(options.gpu_flavors, options.region_gpu_flavors)
            key = normalise_gpu_model(model, table)
            if key not in table:
                where = "this region offers" if options.region_gpu_flavors else "known models"
                raise WorkflowError(
                    f"gpu_model {model!r} has no OVHcloud flavor; {where}: "
                    f"{', '.join(sorted(table))} (extend with --ovh-gpu-flavors MODEL=FLAVOR, "
                    "or set the rule resource ovh_flavor)"
                )
            flavor = table[key]
        else:
            flavor = options.flavor
    if flavor and ("gpu" in str(flavor) or gpus > 0):
        count = max(gpus, 1)
        if count > MAX_GPUS_PER_JOB:
            raise WorkflowError(
                f"{count} GPUs requested; AI Training allows {MAX_GPUS_PER_JOB} per job"
            )
        return {"flavor": check_flavor(str(flavor), count, options), "gpu": count}
    cores = _int_resource(resources, "_cores") or 1
    count = max(1, min(cores, MAX_CPUS_PER_JOB))
    return {"flavor": check_flavor(str(flavor or options.cpu_flavor), count, options), "cpu": count}


def check_flavor(flavor: str, units: int, options: SpecOptions) -> str:
    """The flavor, if the region offers it with that many units (when its list was read)."""
    offered = options.flavor_max
    if offered is None:
        return flavor
    if flavor not in offered:
        raise WorkflowError(
            f"flavor {flavor!r} is not offered in this region; it offers "
            f"{', '.join(sorted(offered))} (see `ovhai capabilities flavor list`)"
        )
    if offered[flavor] and units > offered[flavor]:
        raise WorkflowError(
            f"flavor {flavor} allows at most {offered[flavor]} per job, not {units}"
        )
    return flavor


def job_timeout(resources: ResourceLookup, options: SpecOptions) -> int:
    """Seconds: the rule's ``runtime`` (minutes) plus a margin, else the default timeout."""
    runtime = resources.get("runtime", None)
    try:
        minutes = int(runtime) if runtime not in (None, "") else 0
    except (TypeError, ValueError):
        minutes = 0
    if minutes <= 0:
        return int(options.default_timeout)
    return minutes * 60 + int(options.timeout_margin)


def digest_label(*parts: object) -> str:
    """A short stable label value for things too long or too free-form for a label."""
    return hashlib.sha256("\n".join(str(p) for p in parts).encode()).hexdigest()[:16]


def output_label(outputs: Iterable[object]) -> str:
    """Same outputs, same label, in every run (jobids are per run): counts work per output."""
    return digest_label(*sorted(str(o) for o in outputs))


def job_labels(
    run_id: str,
    rule: str,
    jobid: object,
    attempt: int,
    extra: Mapping[str, str] | None,
    origin: Mapping[str, str] | None = None,
) -> dict[str, str]:
    if any(k.startswith("ovh/") for k in (extra or {})):
        raise WorkflowError("labels prefixed by 'ovh/' belong to the platform")
    labels = {sanitize_label(k): sanitize_label(v) for k, v in (extra or {}).items()}
    labels.update(
        {
            RUN_LABEL: sanitize_label(run_id),
            "snakemake-rule": sanitize_label(rule),
            "snakemake-jobid": sanitize_label(jobid),
            "snakemake-attempt": str(int(attempt)),
        }
    )
    labels.update({k: sanitize_label(v) for k, v in (origin or {}).items()})
    return labels


def build_job_spec(
    *,
    name: str,
    image: str,
    command: str,
    envvars: Mapping[str, str],
    resources: ResourceLookup,
    labels: Mapping[str, str],
    options: SpecOptions,
) -> dict[str, Any]:
    return {
        "name": sanitize_label(name, max_len=100),
        "image": image,
        # /bin/sh: a stock image needs nothing but a POSIX shell
        "command": ["/bin/sh", "-c", command],
        "envVars": [{"name": k, "value": str(v)} for k, v in sorted(envvars.items())],
        "resources": resolve_resources(resources, options),
        "timeout": job_timeout(resources, options),
        "labels": dict(labels),
    }
