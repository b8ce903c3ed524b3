"""Bad telemetry settings fail with the setting named."""

from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from cape.settings import Settings
from worker.observe import MetricsPortError, connect, sdk_runtime


def test_a_bad_metrics_network_names_the_setting() -> None:
    with pytest.raises(ValidationError, match="CAPE_METRICS_ALLOW: 'nope' is not an IP network"):
        Settings(metrics_allow=["10.0.0.0/8", "nope"])


def test_a_trace_url_template_without_the_trace_id_names_the_setting() -> None:
    with pytest.raises(ValidationError, match=r"CAPE_TRACE_URL_TEMPLATE must contain \{trace_id\}"):
        Settings(trace_url_template="http://localhost:16686/trace/")
    assert Settings(trace_url_template="http://j/trace/{trace_id}").trace_url_template


@pytest.mark.parametrize("setting", ["worker_metrics_port", "worker_sdk_metrics_port"])
async def test_a_taken_worker_metrics_port_names_the_setting(setting: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(**{setting: port})
        with pytest.raises(MetricsPortError, match=f"CAPE_{setting.upper()}: .*:{port}"):
            if setting == "worker_metrics_port":
                await connect(settings)
            else:
                sdk_runtime(settings)
