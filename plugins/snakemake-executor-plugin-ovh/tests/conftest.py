"""The plugin's fixtures (emulator, moto S3 server, environment of a --profile run)."""

from snakemake_executor_plugin_ovh.testing import *  # noqa: F403
from snakemake_executor_plugin_ovh.testing import S3_ACCESS_KEY, S3_SECRET_KEY, Emulator

__all__ = ["S3_ACCESS_KEY", "S3_SECRET_KEY", "Emulator"]
