"""The versioned row write every projection activity uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store.models import Absence
from store.projection import write_if_newer

T0 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


def absence(version: int) -> Absence:
    return Absence(id="a", status="scheduled", version=version, updated_at=T0)


def test_a_newer_version_is_written() -> None:
    row = absence(3)
    later = T0 + timedelta(minutes=1)
    assert write_if_newer(row, 4, later, status="active")
    assert (row.status, row.version, row.updated_at) == ("active", 4, later)


@pytest.mark.parametrize("version", [3, 2])
def test_the_same_or_an_older_version_changes_nothing(version: int) -> None:
    row = absence(3)
    assert not write_if_newer(row, version, T0 + timedelta(minutes=1), status="ended")
    assert (row.status, row.version, row.updated_at) == ("scheduled", 3, T0)


def test_an_unknown_column_is_refused_even_when_stale() -> None:
    with pytest.raises(AttributeError, match="no column"):
        write_if_newer(absence(3), 1, T0, stauts="ended")
