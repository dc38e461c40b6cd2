"""The worker's payload converter (workers/payloads.py): the SDK's pydantic JSON, byte for byte,
with one cache of type adapters for the process instead of one per workflow instance."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter

import workers.payloads
from config.settings import Settings
from domain.messages import AttemptInput, InteractionInput
from tests.workflows.support import interaction_input, team
from workers.client import data_converter
from workers.payloads import SharedPydanticPayloadConverter

RECEIVED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_payloads_are_the_sdks_pydantic_json_byte_for_byte() -> None:
    # Histories written before keep replaying: the same bytes out, the same values back.
    inp = interaction_input(team(), RECEIVED)
    values: list[Any] = [inp, AttemptInput(attempt_id="a-1", outcome="no_answer"), None, "text", 3, b"\x00"]
    ours, sdks = SharedPydanticPayloadConverter(), PydanticPayloadConverter()
    payloads = ours.to_payloads(values)
    assert payloads == sdks.to_payloads(values)
    hints: list[Any] = [InteractionInput, AttemptInput, None, str, int, bytes]
    assert ours.from_payloads(payloads, hints) == sdks.from_payloads(payloads, hints) == values


def test_a_new_converter_builds_no_type_adapter_another_built(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK makes a payload converter per workflow instance: the second instance's input is
    # decoded with the adapter the first one's built, not a new pydantic schema.
    built: list[object] = []
    real = TypeAdapter

    def counting(hint: Any) -> object:
        built.append(hint)
        return real(hint)

    monkeypatch.setattr(workers.payloads._SHARED_JSON, "_type_adapter", _fresh_cache(counting))
    payload = SharedPydanticPayloadConverter().to_payloads([interaction_input(team(), RECEIVED)])
    for _ in range(3):  # three new instances waking with their input
        SharedPydanticPayloadConverter().from_payloads(payload, [InteractionInput])
    assert built == [InteractionInput]
    # The SDK's own converter, for comparison, builds one per new converter.
    sdk_built = [PydanticPayloadConverter() for _ in range(2)]
    for c in sdk_built:
        c.from_payloads(payload, [InteractionInput])
    caches = [c.converters[b"json/plain"]._type_adapter.cache_info().misses for c in sdk_built]  # type: ignore[attr-defined]
    assert caches == [1, 1]


def test_the_worker_and_the_api_use_it_with_and_without_the_codec() -> None:
    plain = data_converter(Settings())
    keyed = data_converter(Settings(codec_key="A" * 43 + "="))
    assert plain.payload_converter_class is SharedPydanticPayloadConverter
    assert keyed.payload_converter_class is SharedPydanticPayloadConverter
    assert keyed.payload_codec is not None
    assert pydantic_data_converter.payload_converter_class is PydanticPayloadConverter  # the SDK's, untouched


def _fresh_cache(build: Any) -> Any:
    return functools.lru_cache(maxsize=workers.payloads.MAX_TYPE_ADAPTERS)(build)
