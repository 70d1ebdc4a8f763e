"""The whole ``rxt demo`` once, on the real simulators: each scene's outcome read back from the
simulators (before they stop) and from the demo's state store (after), which shows the engine's
workers carried the story (webhook deliveries, runs, the merge verdict) and were stopped.

The demo runs in a fresh process: the planner caches regorus engines, which are bound to the
thread that made them, and tests planning on the main thread earlier in the same worker would
leave engines the demo's planning thread may not touch.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim
from rich.console import Console
from sqlalchemy import select

from rxt.commands.db import open_configured_store
from rxt.demo import scenes, story
from rxt.demo.scenes import Play
from rxt.demo.stage import REPOSITORY, REVIEW
from rxt.demo.story import run_demo
from rxt.settings import Settings
from state.models import DriftReport, DriftStatus, Run, RunStatus, WebhookDelivery
from state.verifying import verify_chains

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[2] / "example-repo"


def _vms(play: Play) -> dict[str, int]:
    """The VMs of the acme-staging folder in vcsim and their CPU counts, read with pyVmomi."""
    sim = play.stage.vcsim
    si = SmartConnect(  # type: ignore[no-untyped-call]
        host=sim.host, port=sim.port, user=sim.username, pwd=sim.password, protocol="http"
    )
    try:
        content = si.RetrieveContent()
        folder: Any = content.searchIndex.FindByInventoryPath("DC0/vm/acme-staging")
        machines: list[Any] = [c for c in folder.childEntity if isinstance(c, vim.VirtualMachine)]
        return {vm.name: vm.config.hardware.numCPU for vm in machines}
    finally:
        Disconnect(si)  # type: ignore[no-untyped-call]


def _deployments(play: Play) -> dict[str, tuple[str, int]]:
    configuration = k8s.Configuration()
    configuration.host = play.stage.kube.url
    with k8s.ApiClient(configuration) as api:
        found = k8s.AppsV1Api(api).list_namespaced_deployment("acme-staging").to_dict()["items"]
    return {
        d["metadata"]["name"]: (d["spec"]["template"]["spec"]["containers"][0]["image"],
                                d["spec"]["replicas"])
        for d in found
    }  # fmt: skip


def _segments(play: Play) -> list[str]:
    nsx = play.stage.nsx
    answer = httpx.get(f"{nsx.url}/policy/api/v1/infra/segments",
                       auth=(nsx.username, nsx.password), timeout=10)  # fmt: skip
    return sorted(str(item["id"]) for item in answer.json()["results"])


def _virtual_servers(play: Play) -> dict[str, tuple[str, str]]:
    """Each NSX virtual server's IP and the certificate it presents."""
    nsx = play.stage.nsx
    answer = httpx.get(f"{nsx.url}/policy/api/v1/infra/lb-virtual-servers",
                       auth=(nsx.username, nsx.password), timeout=10)  # fmt: skip
    return {
        str(item["id"]): (
            str(item["ip_address"]),
            str(item["client_ssl_profile_binding"]["default_certificate_path"]),
        )
        for item in answer.json()["results"]
    }


def _engine_threads() -> list[str]:
    """The engine's workers and the registration refresher running in this process."""
    return sorted(t.name for t in threading.enumerate()
                  if t.name.startswith("rxt-demo/") or t.name == "rxt-registrations")  # fmt: skip


def play_demo(data_dir: str) -> dict[str, Any]:
    """Run the demo (in the spawned process) and return what the simulators held before it
    stopped them, and what it printed."""
    seen: dict[str, Any] = {}

    def inspect(play: Play) -> None:
        seen["vms"] = _vms(play)
        seen["deployments"] = _deployments(play)
        seen["segments"] = _segments(play)
        seen["virtual_servers"] = _virtual_servers(play)
        seen["comments"] = [c.body for c in play.stage.forge.comments(REPOSITORY, REVIEW)]
        head = play.facts["pull request preview"]["head"]
        seen["statuses"] = [s.state for s in play.stage.forge.statuses(head)]
        seen["pids"] = play.stage.pids()
        seen["threads"] = _engine_threads()
        seen["sources"] = sorted(play.stage.engine.sources)

    out = io.StringIO()
    play = run_demo(Console(file=out, width=120), data_dir=Path(data_dir), example=EXAMPLE,
                    inspect=inspect)  # fmt: skip
    seen["threads_after"] = _engine_threads()
    seen["facts"] = play.facts
    seen["matches"] = play.facts["merge and apply"]["matches"]
    seen["settings"] = play.stage.settings.model_dump(mode="json")
    seen["printed"] = out.getvalue()
    return seen


def test_the_demo_plays_every_scene_and_leaves_its_outcomes_in_the_simulators_and_the_store(
    tmp_path: Path,
) -> None:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        seen = pool.submit(play_demo, str(tmp_path)).result(timeout=300)

    # The engine ran the story: its two workers and the refresher, which adopted the
    # repository registered through the tenant API under the name webhooks carry; all stopped.
    assert seen["threads"] == ["rxt-demo/w0", "rxt-demo/w1", "rxt-registrations"]
    assert seen["sources"] == [REPOSITORY]
    assert seen["threads_after"] == []
    facts = seen["facts"]
    assert facts["first plan and apply"]["changes"] == 21
    assert facts["merge and apply"]["run"] > facts["first plan and apply"]["run"]
    # Scene 1 and 4: both VMs made; db was resized to 8 CPUs by hand, and healed back to 4.
    assert seen["vms"] == {"acme-staging-db-0": 4, "acme-staging-payments-0": 4}
    assert seen["segments"] == ["acme-staging-db-segment", "acme-staging-payments-segment"]
    # payments is exposed through NSX, with the certificate the demo imported as the operator.
    assert seen["virtual_servers"] == {
        "acme-staging-payments-vs": ("192.0.2.20", "/infra/certificates/acme-staging-payments-tls")
    }
    assert (
        "imported the TLS certificate(s) /infra/certificates/acme-staging-payments-tls"
        in (seen["printed"])
    )
    # Scene 3: the merged change reached Kubernetes.
    deployments = seen["deployments"]
    assert set(deployments) == {"api", "web", "worker"}
    assert scenes.NEW_WEB_DIGEST in deployments["web"][0]
    assert deployments["api"][1] == 2
    assert seen["matches"] is True
    # Scene 2: one sticky comment, and the status went pending then success.
    [comment] = seen["comments"]
    assert comment.startswith("<!-- rxt:plan acme/staging -->")
    assert "2 to change" in comment
    assert seen["statuses"] == ["pending", "success"]
    # Everything the demo started is gone.
    for pid in seen["pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

    store = open_configured_store(Settings.model_validate(seen["settings"]))
    try:
        with store.database.read() as session:
            reports = [(r.status, r.diffs) for r in session.scalars(select(DriftReport))]
            runs = [r.status for r in session.scalars(select(Run).order_by(Run.id))]
            deliveries = session.execute(
                select(WebhookDelivery.provider, WebhookDelivery.body_digest).distinct()
            ).all()
        assert [status for status, _diffs in reports] == [DriftStatus.DRIFTED, DriftStatus.OK]
        fields = {(f["path"], f["expected"], f["actual"]) for d in reports[0][1]
                  for f in d["fields"]}  # fmt: skip
        assert ("cpu", 4, scenes.RESIZED_CPUS) in fields
        # The first apply, the merge, the heal.
        assert runs == [RunStatus.SUCCEEDED] * 3
        # Three signed deliveries accepted: the pull request opened, then closed as merged, and
        # the push of the merge (each kept under more than one replay key).
        assert [provider for provider, _digest in deliveries] == ["github"] * 3
        chains = verify_chains(store.database, public_key=store.key.public)
        assert [(c.tenant, c.ok) for c in chains] == [("acme", True)]
    finally:
        store.close()
    assert "acme: ok," in seen["printed"]
    assert "every scene did what it should" in seen["printed"]


def fail_first_scene(data_dir: str) -> dict[str, Any]:
    """Run the demo (in the spawned process) with one scene that fails once all is started."""
    started: list[int] = []

    def broken(play: Play) -> None:
        started.extend(play.stage.pids())
        raise scenes.fail("broken", "failed on purpose")

    story.SCENES = (("a scene that fails", broken),)
    try:
        run_demo(Console(file=io.StringIO()), data_dir=Path(data_dir), example=EXAMPLE)
    except scenes.SceneFailed as error:
        return {"pids": started, "error": error.render()}
    return {"pids": started, "error": ""}


def test_a_failed_scene_still_stops_every_process_the_demo_started(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        seen = pool.submit(fail_first_scene, str(tmp_path)).result(timeout=300)
    assert seen["error"].startswith("scene 'broken': failed on purpose")
    assert len(seen["pids"]) == 3
    for pid in seen["pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _pids_until(lines: Iterator[str], marker: str) -> list[int]:
    """The process ids the demo prints in its table of started parts, read until ``marker``."""
    pids = []
    for line in lines:
        found = re.search(r"^\s*(vcsim|OpenBao|Git host)\s.*\spid (\d+)", line)
        if found:
            pids.append(int(found.group(2)))
        if marker in line:
            return pids
    raise AssertionError(f"the demo ended before printing {marker!r}")


def test_ctrl_c_during_a_scene_stops_every_process_and_exits_130(tmp_path: Path) -> None:
    code = "import sys; from rxt.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", code, "demo", "--data-dir", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as demo:
        assert demo.stdout is not None
        pids = _pids_until(iter(demo.stdout.readline, ""), "Scene 1")
        demo.send_signal(signal.SIGINT)
        rest = demo.stdout.read()
        assert demo.wait(timeout=120) == 130
    assert "interrupted; everything the demo started was stopped" in rest
    assert len(pids) == 3
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
