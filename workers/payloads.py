"""Pydantic JSON payloads with one cache of type adapters for the whole process.

The SDK makes a new payload converter for every workflow instance (and, around each workflow
task, for the data converters it builds per activation). The pydantic converter keeps its
``TypeAdapter`` cache on the converter, so every new instance built the adapters of its input and
its messages again, each a pydantic core schema (3 % of the worker's Python in the 17:00 herd,
bench P3 ``--profile``), and every cached instance kept its own (bench P7). This converter is the
SDK's ``PydanticPayloadConverter`` whose JSON part is one shared object: the same encodings, the
same JSON, the same types decoded, one cache of adapters (at most ``MAX_TYPE_ADAPTERS``).

A type adapter holds nothing of the values it decodes; the hints it is built for are the
workflows' and activities' message types (``domain``, passed through the sandbox: the same classes
in every instance), so sharing one between instances and threads shares nothing else.
"""

from __future__ import annotations

from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter, PydanticPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

# The SDK's default size of one converter's cache.
MAX_TYPE_ADAPTERS = 1024
_SHARED_JSON = PydanticJSONPlainPayloadConverter(max_cached_type_adapters=MAX_TYPE_ADAPTERS)


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """``PydanticPayloadConverter`` whose JSON converter (and its type-adapter cache) is the
    process's one; nullary, as the SDK builds payload converters from their class."""

    def __init__(self) -> None:
        CompositePayloadConverter.__init__(
            self,
            *(
                _SHARED_JSON if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            ),
        )


pydantic_shared_converter = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)
