# ruff: noqa: UP045  (argparse_dataclass needs typing.Optional, not X | None)
"""Executor settings (CLI ``--ovh-<field>``, profile key ``ovh-<field>``).

No ``from __future__ import annotations`` here: the settings machinery inspects field types
at runtime (``field.type is bool``).
"""

from dataclasses import dataclass, field
from typing import Optional

from snakemake_interface_executor_plugins.settings import ExecutorSettingsBase

REGION_URLS = {
    "gra": "https://gra.ai.cloud.ovh.net",
    "bhs": "https://bhs.ai.cloud.ovh.net",
}

DEFAULT_IMAGE = "docker.io/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"


def parse_bool(value: object) -> bool:
    """Parse a profile/CLI boolean ('true', 'false', 'yes', '0', ...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def unparse_bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass
class ExecutorSettings(ExecutorSettingsBase):
    token: Optional[str] = field(
        default=None,
        repr=False,
        metadata={
            "help": "OVHcloud AI Training app token (role operator). Set it through the "
            "environment variable SNAKEMAKE_OVH_TOKEN; it is never printed, logged or put in "
            "a job command. A token belongs to the one region it was created in (see "
            "--ovh-region).",
            "env_var": True,
            "required": True,
        },
    )
    region: Optional[str] = field(
        default="gra",
        metadata={
            "help": "AI Training region: gra or bhs (selects the regional API URL). The token "
            "must have been created in this region: a GRA token is refused by the BHS API."
        },
    )
    api_url: Optional[str] = field(
        default=None,
        metadata={
            "help": "Base URL of the AI Training API; overrides the region's URL "
            "(e.g. http://127.0.0.1:8777 for the local emulator)."
        },
    )
    image: Optional[str] = field(
        default=DEFAULT_IMAGE,
        metadata={"help": "Default job image (a rule's container: directive wins)."},
    )
    flavor: Optional[str] = field(
        default="ai1-1-gpu",
        metadata={"help": "Default GPU flavor for jobs whose rule has gpu but no gpu_model."},
    )
    cpu_flavor: Optional[str] = field(
        default="ai1-1-cpu",
        metadata={"help": "Flavor for remote jobs without GPU (rules that are not local)."},
    )
    gpu_flavors: Optional[str] = field(
        default=None,
        metadata={
            "help": "Extra gpu_model to flavor mappings, 'MODEL=FLAVOR,...' "
            "(e.g. 'H100=h100-1-gpu,L40S=l40s-1-gpu'); added to the built-in table."
        },
    )
    bootstrap: Optional[bool] = field(
        default=True,
        metadata={
            "help": "Before the job runs, get Python >= 3.11, this exact snakemake and "
            "S3 storage plugin and the project from the deployed sources into the job "
            "(for stock images). 'false' for images that already carry them.",
            "parse_func": parse_bool,
            "unparse_func": unparse_bool,
            "metavar": "BOOL",
        },
    )
    project_setup: Optional[str] = field(
        default=None,
        metadata={
            "help": "Shell commands run in each job right after Snakemake unpacked the "
            "workflow's sources, before the job's snakemake (e.g. 'pip install .', or putting "
            "the workflow's src/ on PYTHONPATH). Default: none.",
        },
    )
    keep_jobs: Optional[bool] = field(
        default=False,
        metadata={
            "help": "Debugging: do not delete finished jobs from AI Training "
            "(running jobs are still killed on cancel).",
            "parse_func": parse_bool,
            "unparse_func": unparse_bool,
            "metavar": "BOOL",
        },
    )
    labels: Optional[str] = field(
        default=None,
        metadata={"help": "Extra labels for every job, 'key=value,...'."},
    )
    default_timeout: Optional[int] = field(
        default=86400,
        metadata={"help": "Job timeout in seconds for rules without a runtime resource."},
    )
    timeout_margin: Optional[int] = field(
        default=900,
        metadata={
            "help": "Seconds added to a rule's runtime for the job timeout "
            "(bootstrap, image pull, file transfers)."
        },
    )
    job_workdir: Optional[str] = field(
        default=None,
        metadata={
            "help": "Directory inside the job where the workflow runs; default: the first "
            "writable of $HOME, /workspace, $TMPDIR, /tmp (plus '/snakemake-job')."
        },
    )
    max_queued_seconds: Optional[int] = field(
        default=3600,
        metadata={
            "help": "A job still QUEUED this many seconds after submission is killed and "
            "fails (no free GPU of its flavor in the region, or the project's quota used up); "
            "0 waits for ever."
        },
    )
    gpu_quota: Optional[int] = field(
        default=4,
        metadata={
            "help": "GPUs the project may hold at once, running or queued (OVHcloud's default "
            "quota is 4): jobs beyond wait before submission, and a submission refused for "
            "quota waits and is retried. 0: no limit of our own."
        },
    )
    log_settle_seconds: Optional[float] = field(
        default=30.0,
        metadata={
            "help": "A finished job's log is fetched until it has not changed for this many "
            "seconds (AI Training logs can lag the job's end) before the job is deleted."
        },
    )
    status_timeout: Optional[int] = field(
        default=1800,
        metadata={
            "help": "Seconds without any job status from the API (every status round failing) "
            "before the run stops with an error and kills its jobs."
        },
    )
    request_retries: Optional[int] = field(
        default=8,
        metadata={"help": "Retries of one API request on 429, 5xx or network errors."},
    )
    request_backoff: Optional[float] = field(
        default=1.0,
        metadata={"help": "First retry delay in seconds (doubles per retry, at most 60 s)."},
    )
    request_timeout: Optional[float] = field(
        default=60.0,
        metadata={"help": "Seconds before one API request times out."},
    )

    def base_url(self) -> str:
        if self.api_url:
            return self.api_url.rstrip("/")
        region = (self.region or "gra").lower()
        if region not in REGION_URLS:
            raise ValueError(
                f"unknown OVHcloud AI region {region!r}; use one of {sorted(REGION_URLS)}"
            )
        return REGION_URLS[region]
