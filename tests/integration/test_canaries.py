"""Bar R9: canaries planted in Vault values, the engine's environment and failing applies are
found in no plan rendering, log, exception chain, metric or audit row, but do reach the Secret."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import hvac
import prometheus_client
import pytest
from kubernetes import client as k8s
from sqlalchemy import select

from core import logs
from core.errors import FatalError, InvalidRequest, NotFound, PlatformError
from core.resources import Change, SecretRef
from drivers.kubernetes import KubernetesDriver
from drivers.vault import VaultSecretSource
from drivers.vault.redaction import encodings
from planner.views import OUTPUTS, render
from rxt.api.metrics import Metrics
from simulators.kubernetes import FakeApiServer
from simulators.openbao import OpenBaoServer
from state.audit import AuditRecord
from state.checkpoints import SigningKey
from state.database import open_database
from state.migrating import upgrade
from state.models import Base
from state.store import Store, build_store
from tests.integration.conftest import Capture, limited_token
from tests.integration.places import Places
from tests.integration.world import Repo, apply, plan, unwrap_as_a_vm, write_secret

DB_PASSWORD = SecretRef("payments/db", "password")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    database = open_database(f"sqlite:///{tmp_path / 'rxt.db'}")
    upgrade(database)
    yield build_store(database, key=SigningKey.generate())
    database.dispose()


def secret_change(
    repo: Repo,
    app: str,
    *,
    driver: KubernetesDriver,
    source: VaultSecretSource,
) -> Change:
    """The plan's change creating ``app``'s Secret, the first change that reads a value."""
    found = plan(repo, driver=driver, source=source)
    return next(
        c for c in found.changes if c.ref.kind == "Secret" and c.ref.name == f"{app}-secrets"
    )


def failed_apply(driver: KubernetesDriver, change: Change) -> PlatformError:
    with pytest.raises(PlatformError) as caught:
        driver.apply(change)
    return caught.value


def audit_text(store: Store) -> str:
    chunks: list[str] = []
    with store.database.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                chunks.extend(json.dumps(value, default=str) for value in row)
    return "\n".join(chunks)


def test_no_canary_reaches_plans_logs_errors_metrics_or_audit_rows(  # noqa: PLR0917 - fixtures
    admin: hvac.Client,
    openbao_server: OpenBaoServer,
    kube_server: FakeApiServer,
    kube_client: k8s.ApiClient,
    repo: Repo,
    store: Store,
    capture: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mark = uuid.uuid4().hex[:12]
    value, unreferenced, engine_token = (
        f"r9-{kind}-{mark}" for kind in ("value", "other", "token")
    )

    # Canaries: a referenced value, an unreferenced one on the same path, the engine's token.
    admin.auth.token.create(id=engine_token, policies=["root"], ttl="30m")
    monkeypatch.setenv("VAULT_ADDR", openbao_server.url)
    monkeypatch.setenv("VAULT_TOKEN", engine_token)
    source = VaultSecretSource.from_env()
    driver = KubernetesDriver(kube_client, secrets=source)
    write_secret(admin, repo.tenant, "payments/db", password=value, user=unreferenced)
    missing_key = SecretRef("payments/db", "no-such-key")
    repo.write(
        {
            "payments": {"DB_PASSWORD": DB_PASSWORD},
            "ledger": {"DB_PASSWORD": DB_PASSWORD},
            "billing": {"DB_PASSWORD": missing_key},
            "audit": {"DB_PASSWORD": DB_PASSWORD},
            "search": {"DB_PASSWORD": DB_PASSWORD},
        }
    )
    places = Places()
    log = logs.get_logger(tenant=repo.tenant, env="prod")
    metrics = Metrics()

    # A plan reads versions only; it is rendered in every output.
    first = plan(repo, driver=driver, source=source)
    for output in OUTPUTS:
        places.add(f"plan rendering ({output})", render(first, output))
    places.add("plan object", repr(first))

    # The good app applies and its value is delivered: the canary must be found there.
    payments = [c for c in first.changes if c.ref.name.startswith(("payments", repo.namespace))]
    places.add("apply results", repr(apply(tuple(payments), driver=driver)))
    delivered = k8s.CoreV1Api(kube_client).read_namespaced_secret(
        "payments-secrets", repo.namespace
    )
    decoded = {k: base64.b64decode(v).decode() for k, v in delivered.data.items()}
    assert value in decoded.values(), "the canary was not delivered: the search proves nothing"
    assert unreferenced not in decoded.values()
    places.add("observed specs", json.dumps([o.spec for o in driver.observe(repo.scope)]))
    places.add("observed objects", repr(driver.observe(repo.scope)))

    # Deliberately failing applies, each after the values it needs were read.
    failures: dict[str, PlatformError] = {}
    billing = secret_change(repo, "billing", driver=driver, source=source)
    failures["missing key"] = failed_apply(driver, billing)
    denied_token = limited_token(
        admin,
        name=f"{repo.tenant}-r9",
        policy=f'path "secret/metadata/tenants/{repo.tenant}/*" {{ capabilities = ["read"] }}',
    )
    denied = KubernetesDriver(
        kube_client, secrets=VaultSecretSource(openbao_server.url, token=denied_token)
    )
    ledger = secret_change(repo, "ledger", driver=driver, source=source)
    failures["permission denied"] = failed_apply(denied, ledger)
    invalid = replace(
        ledger, desired=replace(ledger.desired, spec={**ledger.desired.spec, "type": 5})
    )
    failures["422 from the API server"] = failed_apply(driver, invalid)
    # A hostile server echoing what it rejected: here the base64 of the value, as in ``data``.
    echoed = base64.b64encode(value.encode()).decode()
    audit_app = secret_change(repo, "audit", driver=driver, source=source)
    hostile = replace(
        audit_app,
        desired=replace(audit_app.desired, spec={**audit_app.desired.spec, "immutable": echoed}),
    )
    failures["422 echoing the value"] = failed_apply(driver, hostile)
    search = secret_change(repo, "search", driver=driver, source=source)
    kube_server.faults.fail_next(422)  # answers the driver's read of the object before its apply
    failures["injected 422"] = failed_apply(driver, search)
    assert {name: type(error) for name, error in failures.items()} == {
        "missing key": NotFound,
        "permission denied": FatalError,
        "422 from the API server": InvalidRequest,
        "422 echoing the value": InvalidRequest,
        "injected 422": InvalidRequest,
    }

    # What the reconciler does with each failure: log it, count it, audit it.
    for name, error in failures.items():
        places.add_error(f"error ({name})", error)
        log.error("change.failed", resource=error.resource, error=error.render(), exc_info=error)
        metrics.apply_errors.labels(environment="prod", driver="kubernetes").inc()
        store.audit.append(
            repo.tenant,
            AuditRecord(
                "engine",
                "change.failed",
                error.resource,
                details={"error": error.render(), "cause": repr(error.__cause__)},
            ),
        )
    # A careless caller handing the value itself to the log and the audit writer.
    log.info(
        "secret.debugged",
        note=f"filled with {value}",
        data={"DB_PASSWORD": echoed},
        token=engine_token,
    )
    store.audit.append(
        repo.tenant,
        AuditRecord(
            "engine",
            "secret.debugged",
            "payments",
            details={"note": f"v={value}"},
            secrets={"password": value},
        ),
    )

    # The VM path hands out a wrapping token only; the token opens the value once.
    token = source.wrap([DB_PASSWORD], tenant=repo.tenant, ttl_seconds=60)
    places.add("wrapping token", token)
    opened = unwrap_as_a_vm(openbao_server.url, token).json()["data"]
    assert opened == {str(DB_PASSWORD): value}

    capture.add_to(places)
    places.add(
        "metrics (engine registry)", prometheus_client.generate_latest(metrics.registry).decode()
    )
    places.add("metrics (default registry)", prometheus_client.generate_latest().decode())
    places.add("audit rows", audit_text(store))

    forms = sorted(
        {form for canary in (value, unreferenced, engine_token) for form in encodings(canary)}
    )
    leaks = {form: places.holding(form) for form in forms if places.holding(form)}
    with capture.printed.disabled():
        print(
            f"\nR9: searched {len(places.texts)} places for {len(forms)} canary forms "
            f"(3 canaries, raw, JSON-escaped and base64); canaries found: {len(leaks)}"
        )
    assert leaks == {}
