"""FHIR JSON of a validated ``fhir.resources`` model, the same bytes as its ``model_dump_json()``
and several times faster (P9 in bench/README.md).

The library's serializer walks every element through pydantic's wrap serializers, re-entering
``model_dump`` (and setting two class flags) for each nested element: about a millisecond per
Task on the benchmark machine, which made a page of 50 Tasks four times slower than the same
page of the JSON API. This walks the same element order (``elements_sequence``), the same
aliases, primitive extensions (``_field``) and comments, with the rules the library applies
(``None`` and empty lists left out), into a dict that ``pydantic_core.to_json`` writes as
pydantic does. The models are still built and validated; only the writing is ours, and a test
(``tests/api/fhir/test_fhir_serialize.py``) keeps its output equal to the library's for every
resource the facade answers. A value it does not know how to write (``bytes``, a type outside
FHIR's) falls back to the library.
"""

from __future__ import annotations

import decimal
import functools
import uuid
from typing import Any

import pydantic_core
from fhir_core.fhirabstractmodel import FHIR_COMMENTS_FIELD_NAME, FHIRAbstractModel
from fhir_core.utils import is_primitive_type

# (key in JSON, attribute, primitive?, extension attribute, extension key)
Element = tuple[str, str, bool, str | None, str | None]


class _Unknown(Exception):
    """A value this module does not write: the library writes the whole resource."""


@functools.cache
def _plan(cls: type[FHIRAbstractModel]) -> tuple[str | None, tuple[Element, ...]]:
    resource_type = cls.get_resource_type() if cls.has_resource_base() else None
    aliases = cls.get_alias_mapping()
    elements: list[Element] = []
    for name in cls.elements_sequence():
        attribute = aliases[name]
        info = cls.model_fields[attribute]
        primitive = is_primitive_type(info)
        ext = f"{attribute}__ext" if primitive and f"{attribute}__ext" in cls.model_fields else None
        ext_key = (cls.model_fields[ext].alias or ext) if ext is not None else None
        elements.append((info.alias or attribute, attribute, primitive, ext, ext_key))
    return resource_type, tuple(elements)


def _primitive(value: Any) -> Any:
    if isinstance(value, list):
        return [_primitive(v) for v in value]
    if isinstance(value, bytes | bytearray):
        raise _Unknown
    if isinstance(value, uuid.UUID):
        return f"urn:uuid:{value}"
    if isinstance(value, decimal.Decimal):
        exp = value.as_tuple().exponent
        if value.is_finite() and value == value.to_integral_value() and isinstance(exp, int) and exp >= 0:
            return int(value)
        return float(value)
    return value


def _complex(value: Any) -> Any:
    if isinstance(value, list):
        return [_complex(v) for v in value]
    if isinstance(value, FHIRAbstractModel):
        return data(value)
    raise _Unknown


def data(model: FHIRAbstractModel) -> dict[str, Any]:
    """The model as the dict its FHIR JSON writes (raw primitive values)."""
    resource_type, elements = _plan(type(model))
    out: dict[str, Any] = {}
    if resource_type is not None:
        out["resourceType"] = resource_type
    values = model.__dict__
    for key, attribute, primitive, ext, ext_key in elements:
        value = values.get(attribute)
        if value is not None:
            value = _primitive(value) if primitive else _complex(value)
            if not (isinstance(value, list) and not value):
                out[key] = value
        if ext is not None and ext_key is not None:
            extension = values.get(ext)
            if extension is not None:
                extension = _complex(extension)
                if extension:
                    out[ext_key] = extension
    comments = values.get(FHIR_COMMENTS_FIELD_NAME)
    if comments is not None:
        out[FHIR_COMMENTS_FIELD_NAME] = comments
    return out


def dumps(model: FHIRAbstractModel) -> bytes:
    """The model's FHIR JSON, compact: ``model.model_dump_json()``, encoded, only faster."""
    try:
        return pydantic_core.to_json(data(model))
    except _Unknown:
        return model.model_dump_json().encode()
