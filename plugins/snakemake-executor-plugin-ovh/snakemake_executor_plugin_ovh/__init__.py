"""Snakemake executor plugin for OVHcloud AI Training (``--executor ovh``).

Imported by Snakemake at every start-up (plugin discovery): keep this module cheap.
"""

from snakemake_interface_executor_plugins.settings import CommonSettings

from .executor import Executor
from .settings import ExecutorSettings

__all__ = ["Executor", "ExecutorSettings", "common_settings"]

common_settings = CommonSettings(
    non_local_exec=True,
    implies_no_shared_fs=True,
    job_deploy_sources=True,
    pass_default_storage_provider_args=True,
    pass_default_resources_args=True,
    # secrets (S3 keys) travel as JobSpec envVars, never inside the command
    pass_envvar_declarations_to_cmd=False,
    # the bootstrap pins the submitter's storage plugin version instead of an unpinned install
    auto_deploy_default_storage_provider=False,
    init_seconds_before_status_checks=0,
)
