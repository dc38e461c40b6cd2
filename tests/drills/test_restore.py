"""Fast version of ``drills.restore`` (issue 19): a database restored from a backup taken under
load (flags, escalations, an absence) is brought back to Temporal by ``followthrough reconcile``;
actions on surviving rows answer at once (nothing wedges on an old row), every case's workflow
and row agree afterwards, cases opened after the backup come back, idle histories stay still."""

from __future__ import annotations

import argparse

import pytest

from drills import restore

pytestmark = pytest.mark.drill


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
async def test_a_restored_backup_is_brought_back_to_temporal(db: str) -> None:
    if db == "postgres":
        from tests import postgres

        if postgres._pg_bindir() is None and not postgres.required():
            pytest.skip("no PostgreSQL binaries")
    rc, figures = await restore.drill(argparse.Namespace(cases=6, db=db, settle=45, idle=3))
    assert figures.after_backup == 3 and figures.cases == 9
    assert figures.actions_before_repair, "no action was tried on a surviving row before the repair"
    assert not figures.non_2xx, figures.non_2xx
    assert max(figures.actions_before_repair + figures.actions_after_repair) <= restore.ACTION_SECONDS
    # The worker's own reconcile may have repaired first; either way the command succeeds and
    # every case (those opened after the backup included) agrees with its workflow below.
    assert figures.reconcile_rc == 0
    assert not figures.disagreements, [d.line() for d in figures.disagreements]
    assert not figures.grew, figures.grew
    assert rc == 0
