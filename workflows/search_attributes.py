"""Custom search attributes (SPEC 3) shown and filterable in the Temporal UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

FT_TEAM = SearchAttributeKey.for_keyword("FtTeam")
FT_CHANNEL = SearchAttributeKey.for_keyword("FtChannel")
FT_STATUS = SearchAttributeKey.for_keyword("FtStatus")
FT_ASSIGNEE = SearchAttributeKey.for_keyword("FtAssignee")
FT_DUE_AT = SearchAttributeKey.for_datetime("FtDueAt")
FT_TRIGGERS = SearchAttributeKey.for_keyword_list("FtTriggers")

ALL_KEYS = (FT_TEAM, FT_CHANNEL, FT_STATUS, FT_ASSIGNEE, FT_DUE_AT, FT_TRIGGERS)
