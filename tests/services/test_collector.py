"""The cycle collector is paused during verify and import runs, and resumed after."""

from __future__ import annotations

import gc

import pytest

from mutualcredit.imports.examples import RULES_BAR, SAMPLE_BAR, example
from mutualcredit.imports.service import import_file
from mutualcredit.services.collector import without_cycle_collection
from mutualcredit.services.verify import verify_ledger
from tests.services.test_import_service import festival  # noqa: F401  (a fixture)


def test_paused_inside_restored_after_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), without_cycle_collection():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()


def test_left_paused_if_it_was_paused_before() -> None:
    gc.disable()
    try:
        with without_cycle_collection():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_verify_runs_without_it(net) -> None:  # type: ignore[no-untyped-def]
    net.run("ana -> bia 3.00")
    seen = []
    report = verify_ledger(
        net.ledger, workers=1, progress=lambda done, total: seen.append(gc.isenabled())
    )
    assert report.clean and seen and not any(seen)
    assert gc.isenabled()


def test_import_runs_without_it(festival) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    seen = []
    summary = import_file(
        festival.ledger,
        festival["robo"],
        example(SAMPLE_BAR),
        example(RULES_BAR),
        progress=lambda phase, done, total: seen.append(gc.isenabled()),
    )
    assert summary.imported == 180 and seen and not any(seen)
    assert gc.isenabled()


def test_verify_workers_collect_between_ranges(net) -> None:  # type: ignore[no-untyped-def]
    # Forked from a run that paused the collector, a worker process resumes it: it pauses
    # it only while it checks a range, so what a range leaves in cycles is collected.
    from mutualcredit.services.verify_workers import Context, Pool

    context = Context(url=net.url, network=net.ledger.network.id, keys={}, windows={}, accounts={})
    with without_cycle_collection():
        pool = Pool(context, workers=2)
        try:
            assert pool.executor is not None
            assert pool.executor.submit(gc.isenabled).result(timeout=60) is True
        finally:
            pool.close()
        assert not gc.isenabled()
