"""The one Temporal client factory: pydantic data converter (and the payload codec, if keyed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client, Interceptor
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from config.settings import Settings
from workers.payloads import pydantic_shared_converter
from workflows.search_attributes import ALL_KEYS

log = structlog.get_logger(__name__)

_INDEXED_TYPES = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "KEYWORD_LIST": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic JSON payloads; with a codec key, encrypted with AES-GCM, failures (messages and
    stack traces) included, and payloads that are not encrypted refused (``workers.codec``)."""
    converter = pydantic_shared_converter
    if settings.codec_key:
        from workers.codec import EncryptionCodec

        codec = EncryptionCodec.from_key(settings.codec_key, strict=not settings.codec_accept_plaintext)
        converter = dataclasses.replace(
            converter,
            payload_codec=codec,
            failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
        )
    return converter


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS for a TLS or mTLS cluster (or Temporal Cloud); False for a plain local server."""
    wanted = settings.temporal_tls or settings.temporal_tls_ca_file or settings.temporal_tls_cert_file
    if not wanted:
        # An API key (Temporal Cloud) always travels over TLS.
        return settings.temporal_api_key is not None

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca_file),
        client_cert=read(settings.temporal_tls_cert_file),
        client_private_key=read(settings.temporal_tls_key_file),
        domain=settings.temporal_tls_server_name,
    )


def interceptors(settings: Settings) -> list[Interceptor]:
    """OpenTelemetry tracing (API -> workflow -> activity) when an OTLP endpoint is configured."""
    if not settings.otel_exporter_otlp_endpoint:
        return []
    from workers.tracing import tracing_interceptor

    return [tracing_interceptor(settings)]


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving the SDK's metrics (workflow/activity task latencies, polls,
    failures, sticky cache...) for Prometheus at ``http://{worker_metrics_address}/metrics``.

    Raises ``ValueError`` when the address is not ``IP:port`` or is already taken. A client
    connected with this runtime, and every worker built on that client, reports through it.
    """
    if not settings.worker_metrics_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=settings.worker_metrics_address))
    )


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        runtime=runtime,
        tls=tls_config(settings),
        api_key=settings.temporal_api_key,
        interceptors=interceptors(settings),
    )


async def ensure_search_attributes(client: Client) -> None:
    """Register the Ft* search attributes the workflows upsert, if they are missing.

    The time-skipping test server does not implement listing, so fall back to adding all
    of them and treating "already exists" as success.
    """
    wanted = {
        key.name: _INDEXED_TYPES[key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")]
        for key in ALL_KEYS
    }
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        missing = {k: v for k, v in wanted.items() if k not in existing.custom_attributes}
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        missing = wanted
    if not missing:
        return
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    log.info("temporal.search_attributes_registered", names=sorted(missing))


async def try_ensure_search_attributes(client: Client) -> bool:
    """``ensure_search_attributes`` for the API and the CLI, which may start workflows before any
    worker has run against a fresh namespace. A refusal (no operator rights, as in Temporal
    Cloud, where they are registered in the namespace settings) is logged, not raised."""
    try:
        await ensure_search_attributes(client)
    except RPCError as err:
        log.warning("temporal.search_attributes_not_checked", status=err.status.name if err.status else None)
        return False
    return True
