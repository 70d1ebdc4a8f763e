"""Bar R1: reconciles SIGKILLed at random points of their apply leave no duplicate objects,
lose nothing they acknowledged, and the environment converges within two cycles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulators.kubernetes import FakeApiServer
from simulators.nsx import NsxSimulator
from simulators.vcsim.launcher import Vcsim
from tests.reconciler.kills import kill_runs

pytestmark = pytest.mark.slow

# 20 in the suite (fewer with RXT_R1_RUNS on a slow machine); the benchmark runs 200.
RUNS = int(os.environ.get("RXT_R1_RUNS", "20"))


@pytest.mark.timeout(300)
def test_r1_killed_reconciles_leave_no_duplicates_lose_nothing_and_converge(
    tmp_path: Path, vcsim: Vcsim, kube_server: FakeApiServer, nsx_sim: NsxSimulator
) -> None:
    report = kill_runs(tmp_path, (vcsim, kube_server, nsx_sim), runs=RUNS)
    print(f"R1: {report}")
    assert report.runs == RUNS
    assert report.killed > 0, "no run was killed: the kill points all fell after the apply"
    assert report.duplicates == []
    assert report.lost == []
    assert 1 <= report.cycles_to_converge <= 2
    assert report.chain_ok
