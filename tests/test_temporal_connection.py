"""Connecting to a TLS/mTLS cluster or Temporal Cloud, and the worker's tuning, from settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from config.settings import Settings
from workers.client import interceptors, tls_config


def test_plain_local_server_needs_no_tls() -> None:
    assert tls_config(Settings()) is False
    assert interceptors(Settings()) == []  # tracing is off unless configured


def test_an_api_key_always_travels_over_tls() -> None:
    assert tls_config(Settings(temporal_api_key="key")) is True


def test_mtls_reads_the_ca_client_certificate_and_key(tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_bytes(f"-----{name}-----".encode())
    tls = tls_config(
        Settings(
            temporal_tls_ca_file=str(tmp_path / "ca.pem"),
            temporal_tls_cert_file=str(tmp_path / "client.pem"),
            temporal_tls_key_file=str(tmp_path / "client.key"),
            temporal_tls_server_name="temporal.internal",
        )
    )
    assert isinstance(tls, TLSConfig)
    assert tls.server_root_ca_cert == b"-----ca.pem-----"
    assert tls.client_cert == b"-----client.pem-----"
    assert tls.client_private_key == b"-----client.key-----"
    assert tls.domain == "temporal.internal"


def test_a_client_certificate_without_its_key_is_refused() -> None:
    with pytest.raises(ValueError, match="mTLS needs both"):
        Settings(temporal_tls_cert_file="/x/client.pem")


def test_tracing_turns_on_with_an_otlp_endpoint() -> None:
    (interceptor,) = interceptors(Settings(otel_exporter_otlp_endpoint="http://127.0.0.1:4318/v1/traces"))
    assert type(interceptor).__name__ == "TracingInterceptor"
