"""Custom search attributes shown and filterable in the Temporal UI."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from temporalio.common import SearchAttributeKey

FT_TEAM = SearchAttributeKey.for_keyword("FtTeam")
FT_CHANNEL = SearchAttributeKey.for_keyword("FtChannel")
FT_STATUS = SearchAttributeKey.for_keyword("FtStatus")
FT_ASSIGNEE = SearchAttributeKey.for_keyword("FtAssignee")
FT_DUE_AT = SearchAttributeKey.for_datetime("FtDueAt")
FT_TRIGGERS = SearchAttributeKey.for_keyword_list("FtTriggers")

ALL_KEYS = (FT_TEAM, FT_CHANNEL, FT_STATUS, FT_ASSIGNEE, FT_DUE_AT, FT_TRIGGERS)

# The same keys as the dev server's ``--search-attribute Name=Type`` flags and the operator API
# name their types: {"FtTeam": "Keyword", ..., "FtDueAt": "Datetime", "FtTriggers": "KeywordList"}.
SEARCH_ATTRIBUTE_TYPES: Mapping[str, str] = MappingProxyType(
    {
        key.name: "".join(
            part.capitalize()
            for part in key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_").split("_")
        )
        for key in ALL_KEYS
    }
)
