"""Bar R1's harness, shared by the test and the benchmark: SIGKILL reconciles at random points
of their apply, then check no duplicate objects, nothing acknowledged lost, and convergence
within two cycles."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from reconciler.applying import ApplyLimits
from reconciler.reconciling import Options, Reconciler
from reconciler.sites import Sites
from reconciler.wiring.config import parse_config
from reconciler.wiring.connections import close_all, connect
from simulators.kubernetes import FakeApiServer
from simulators.nsx import NsxSimulator
from simulators.vcsim.launcher import Vcsim
from state.store import Store, open_store
from state.verifying import verify_chains
from tests.reconciler.envrepo import DB, WEB, EnvRepo, db_yaml, environment_yaml, web_yaml

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class KillReport:
    runs: int = 0
    killed: int = 0
    finished: int = 0
    cycles_to_converge: int = 0
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    chain_ok: bool = False


def engine_config(
    tmp: Path, vcsim: Vcsim, kube: FakeApiServer, nsx: NsxSimulator
) -> dict[str, Any]:
    return {
        "cache_dir": str(tmp / "cache"),
        "kubernetes": {"spot": {"url": kube.url}},
        "vsphere": {"sddc": {"host": vcsim.host, "port": vcsim.port, "user": vcsim.username,
                             "password": vcsim.password, "protocol": "http"}},
        # The fake realizes at once; NSX Manager's two-second poll would only make runs slow.
        "nsx": {"nsx": {"url": nsx.url, "username": nsx.username, "password": nsx.password,
                        "realization_poll_seconds": 0.1}},
    }  # fmt: skip


class Zygote:
    """The warm process that forks one reconcile per job."""

    def __init__(self, log: IO[bytes]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reconciler.killable"], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
        assert json.loads(self._line())["ready"]

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the killable reconcile process died; see its log")
        return line

    def run(self, job: dict[str, Any], *, kill_after: float | None) -> bool:
        """Run one job; kill it after ``kill_after`` seconds. True when it was killed."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        pid = json.loads(self._line())["pid"]
        if kill_after is not None:
            time.sleep(kill_after)
            with contextlib.suppress(ProcessLookupError):  # it may have finished already
                os.kill(pid, signal.SIGKILL)
        status = json.loads(self._line())["exit"]
        return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL

    def stop(self) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


def kill_runs(
    tmp: Path, sims: tuple[Vcsim, FakeApiServer, NsxSimulator], *, runs: int, seed: int = 1
) -> KillReport:
    """``runs`` reconciles alternating between two states, each killed at a random point."""
    config = engine_config(tmp, *sims)
    tag = f"k{os.getpid()}{seed}"
    repo = EnvRepo(
        tmp / "remote", tmp / "cache", name=tag, namespace=f"acme-{tag}", folder=f"acme-{tag}"
    )
    env = environment_yaml(repo.tenant, repo.name, namespace=repo.namespace, folder=repo.folder,
                           confirm="[]")  # fmt: skip
    with_vm = repo.push({"environment.yaml": env, WEB: web_yaml(replicas=2), DB: db_yaml()})
    without_vm = repo.push({WEB: web_yaml(replicas=3), DB: None})
    final = repo.push({WEB: web_yaml(replicas=2), DB: db_yaml()})
    database = f"sqlite:///{tmp / 'r1.db'}"
    job = {"config": config, "database": database, "key": str(tmp / "key.pem"),
           "remote": f"file://{tmp / 'remote'}", "tenant": repo.tenant,
           "environment": repo.name}  # fmt: skip
    report, rng = KillReport(), random.Random(seed)
    with (tmp / "killable.log").open("wb") as log:
        zygote = Zygote(log)
        try:
            started = time.monotonic()
            zygote.run({**job, "commit": with_vm}, kill_after=None)  # how long one apply takes
            span = max(0.2, time.monotonic() - started)
            for index in range(runs):
                commit = without_vm if index % 2 == 0 else with_vm
                killed = zygote.run({**job, "commit": commit}, kill_after=rng.uniform(0, span))
                report.runs += 1
                report.killed += killed
                report.finished += not killed
        finally:
            zygote.stop()
    store = open_store(database, key_path=tmp / "key.pem")
    try:
        _converge(store, repo, config, final, report)
    finally:
        store.close()
    return report


def _converge(
    store: Store, repo: EnvRepo, config: dict[str, Any], commit: str, report: KillReport
) -> None:
    sites = connect(parse_config(config))
    options = Options(holder="r1-engine", limits=ApplyLimits(health_timeout=30.0, health_poll=0.1))
    reconciler = Reconciler(store, sites, options=options)
    try:
        for cycle in (1, 2):
            result = reconciler.reconcile(repo.target(), commit)
            if result.status == "unchanged":
                report.cycles_to_converge = cycle
                break
        _check(store, sites, reconciler, repo, commit, report)
    finally:
        close_all(sites)


def _check(  # noqa: PLR0917 - one call site, all needed
    store: Store, sites: Sites, reconciler: Reconciler, repo: EnvRepo, commit: str,
    report: KillReport,
) -> None:  # fmt: skip
    view = reconciler.load(repo.target(), commit)
    observed = sites.observe(view)
    names = Counter(str(item.ref) for item in observed)
    report.duplicates = sorted(name for name, count in names.items() if count > 1)
    there = {str(item.ref): item.digest for item in observed}
    env_id = store.catalog.environment(repo.tenant, repo.name)
    report.lost = sorted(
        row.ref for row in store.runs.applied(env_id) if there.get(row.ref) != row.spec_hash
    )
    report.chain_ok = all(r.ok for r in verify_chains(store.database, public_key=store.key.public))
