"""OpenTelemetry tracing through Temporal: one trace from the API's request through the
workflow to its activities (``temporalio.contrib.opentelemetry``), exported over OTLP.

Off unless ``FOLLOWTHROUGH_OTEL_EXPORTER_OTLP_ENDPOINT`` is set; needs the ``tracing`` extra
(``pip install 'followthrough[tracing]'``). Spans carry workflow and activity names and ids only.
"""

from __future__ import annotations

from temporalio.client import Interceptor

from config.settings import Settings

SERVICE_NAME = "followthrough"


def tracing_interceptor(settings: Settings) -> Interceptor:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from temporalio.contrib.opentelemetry import TracingInterceptor

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_exporter_otlp_endpoint))
        )
        trace.set_tracer_provider(provider)
    return TracingInterceptor()
