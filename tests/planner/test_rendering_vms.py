"""VM rendering: one clone per replica, sized from `vm` or `resources`, booted by cloud-init."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from core.resources import DesiredResource, Platform
from planner.rendering import render_environment
from tests.planner.builders import SITES, app, environment, view

SECRET = {"secretRef": {"path": "shop/db", "key": "password"}}


def vms(*apps: Any, **env: Any) -> list[DesiredResource]:
    resources = render_environment(view(*apps, env=environment(**env) if env else None))
    return [r for r in resources if r.ref.platform is Platform.VSPHERE]


def test_each_replica_is_one_vm_with_a_deterministic_name_in_the_folder() -> None:
    machines = vms(app("db", replicas=3, placement={"target": "vm"}))
    assert [m.ref.name for m in machines] == ["acme-prod-db-0", "acme-prod-db-1", "acme-prod-db-2"]
    assert {m.ref.scope for m in machines} == {"acme-prod"}
    assert [str(m.owner) for m in machines] == [f"acme/prod/db/vm-{i}" for i in range(3)]
    spec = machines[0].spec
    assert (spec["template"], spec["datacenter"], spec["network"]) == (
        "ubuntu",
        "DC0",
        "VM Network",
    )
    assert spec["annotation"] == "Managed by RXT Deploy: acme/prod/db/vm-0"
    assert machines[0].immutable == ("template", "datacenter")


SIZING = [
    ({"vm": {"cpu": 4, "memoryMiB": 8192, "diskGiB": 60}}, (4, 8192, 60)),
    ({"resources": {"cpu": "1500m", "memory": "3Gi"}}, (2, 3072, 40)),
    ({"resources": {"cpu": "100m", "memory": "64Mi"}}, (1, 512, 40)),
    ({"resources": {}}, (2, 2048, 40)),
]


@pytest.mark.parametrize(
    ("spec", "sized"), SIZING, ids=["vm block", "from resources", "minimums", "defaults"]
)
def test_sizing_comes_from_vm_then_resources_then_defaults(
    spec: dict[str, Any], sized: tuple[int, int, int]
) -> None:
    machine = vms(app("db", placement={"target": "vm"}, **spec))[0].spec
    assert (machine["cpu"], machine["memoryMiB"], machine["bootDiskGiB"]) == sized


def test_volumes_become_disks_rounded_up_to_whole_gib() -> None:
    volumes = [
        {"name": "data", "size": "1500Mi", "mountPath": "/data"},
        {"name": "logs", "size": "2Gi", "mountPath": "/logs"},
    ]
    machine = vms(app("db", volumes=volumes))[0].spec
    assert machine["disks"] == [{"name": "data", "sizeGiB": 2}, {"name": "logs", "sizeGiB": 2}]
    config = yaml.safe_load(machine["guestinfo"]["userdata"])
    assert config["mounts"][0][:2] == ["/dev/sdb1", "/mnt/rxt/data"]


def test_user_data_runs_the_image_with_its_env_and_ports_and_never_a_secret_value() -> None:
    db = app("db", placement={"target": "vm"}, env={"MODE": "primary", "DB_PASSWORD": SECRET})
    machine = vms(db)[0]
    userdata = machine.spec["guestinfo"]["userdata"]
    assert userdata.startswith("#cloud-config\n")
    config = yaml.safe_load(userdata)
    files = {item["path"]: item["content"] for item in config["write_files"]}
    assert files["/etc/rxt/app.env"] == "MODE=primary\n"
    assert files["/etc/rxt/secret-env"] == "DB_PASSWORD=shop/db#password\n"
    assert "sys/wrapping/unwrap" in files["/usr/local/sbin/rxt-fetch-secrets"]
    run = config["runcmd"][-1]
    assert run[:2] == ["docker", "run"]
    assert run[-1] == db.spec.image
    assert "8080:8080/tcp" in run
    assert [str(ref) for ref in machine.secrets] == ["shop/db#password"]


def test_the_instance_id_follows_the_user_data_so_a_change_reruns_cloud_init() -> None:
    first = vms(app("db", placement={"target": "vm"}, env={"MODE": "a"}))[0].spec["guestinfo"]
    second = vms(app("db", placement={"target": "vm"}, env={"MODE": "b"}))[0].spec["guestinfo"]
    ids = [json.loads(g["metadata"])["instance-id"] for g in (first, second)]
    assert ids[0] != ids[1]
    assert all(i.startswith("acme-prod-db-0-") for i in ids)


def test_vms_wait_for_their_segment_only_when_nsx_is_configured() -> None:
    with_nsx = vms(app("db", placement={"target": "vm"}))[0]
    assert [str(ref) for ref in with_nsx.depends_on] == ["nsx:Segment/acme-prod-db-segment"]
    sites = {key: value for key, value in SITES.items() if key != "nsx"}
    assert vms(app("db", placement={"target": "vm"}), sites=sites)[0].depends_on == ()
