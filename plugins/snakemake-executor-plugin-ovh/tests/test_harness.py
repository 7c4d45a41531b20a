"""Snakemake's own executor-plugin suite against the emulator and a moto S3 server."""

from __future__ import annotations

from typing import Any

import pytest
import snakemake.common.tests
from snakemake.settings.types import RemoteExecutionSettings
from snakemake_executor_plugin_ovh import ExecutorSettings

from .conftest import S3_ACCESS_KEY, S3_SECRET_KEY, Emulator


class TestWorkflows(snakemake.common.tests.TestWorkflowsMinioPlayStorageBase):
    __test__ = True

    @pytest.fixture(autouse=True)
    def _servers(self, emulator: Emulator, s3_server: str) -> None:
        self._emulator = emulator
        self._s3 = s3_server

    def get_executor(self) -> str:
        return "ovh"

    def get_executor_settings(self) -> ExecutorSettings:
        # bootstrap on: in the emulator it finds the venv's Python with the exact pins
        return ExecutorSettings(
            token=self._emulator.token,
            api_url=self._emulator.url,
            image="emulated/stock:latest",
            bootstrap=True,
        )

    def get_assume_shared_fs(self) -> bool:
        return False

    def get_remote_execution_settings(self) -> RemoteExecutionSettings:
        return RemoteExecutionSettings(seconds_between_status_checks=1, envvars=self.get_envvars())

    def get_default_storage_prefix(self) -> str:
        return f"s3://{self.bucket}/prefix"  # never a bucket root

    @property
    def endpoint_url(self) -> Any:
        return self._s3

    @property
    def access_key(self) -> str:
        return S3_ACCESS_KEY

    @property
    def secret_key(self) -> str:
        return S3_SECRET_KEY
