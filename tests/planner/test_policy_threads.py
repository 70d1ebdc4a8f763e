"""Policy engines never cross threads: regorus panics when one is used or dropped elsewhere."""

from __future__ import annotations

import gc
import threading
from concurrent.futures import ThreadPoolExecutor

from planner import policy
from planner.bundles import build_bundle, compile_bundle


def _evaluate_placement_once() -> bool:
    bundle = build_bundle(["baseline"], {})
    engine, problem = policy.prepared(bundle, {"placements": {}, "changes": []})
    return engine is not None and problem == ""


def test_a_bundle_compiled_on_one_thread_is_evaluated_on_others_without_a_panic() -> None:
    assert _evaluate_placement_once()  # compiled and cached on this thread first
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: _evaluate_placement_once(), range(6)))
    assert results == [True] * 6


def test_each_thread_compiles_its_own_engine() -> None:
    bundle = build_bundle(["baseline"], {})
    here = id(compile_bundle(bundle).engine)
    elsewhere: list[tuple[int, bool]] = []

    def compile_there() -> None:
        # Only the id leaves the thread: holding the engine here would drop it on this thread.
        engine = compile_bundle(bundle).engine
        elsewhere.append((id(engine), engine is compile_bundle(bundle).engine))

    worker = threading.Thread(target=compile_there)
    worker.start()
    worker.join(timeout=30)
    assert len(elsewhere) == 1
    there, cached_there = elsewhere[0]
    assert cached_there
    assert there != here


def test_engines_of_a_finished_thread_are_dropped_without_an_unraisable_error() -> None:
    seen: list[str] = []
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:  # pragma: no cover - only on a regression
        seen.append(str(args.exc_value))

    threading.excepthook = hook
    try:
        worker = threading.Thread(target=_evaluate_placement_once)
        worker.start()
        worker.join(timeout=30)
        gc.collect()
    finally:
        threading.excepthook = previous
    assert seen == []
