"""What ``rxt serve`` sends to URLs a tenant registered is held to the tenant API's URL rules:
checked before each use, and connected to only at the addresses that check resolved."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from drivers.fake import FakeWorld
from reconciler.wiring.engine import Engine, EngineSettings
from reconciler.wiring.registered import RegistrationRefresher
from rxt.api.urls import GuardedTransport, UrlPolicy, UrlRefused
from rxt.commands.serve import guard_registered_traffic
from state.store import Store

# The fixtures come from the reconciler's tests; their parameters shadow these imports.
# ruff: noqa: F401, F811
from tests.reconciler.conftest import fake_sites, sqlite_template, store
from tests.state.conftest import key


def _lab(host: str) -> list[str]:
    return {"git.example.com": ["93.184.216.34"], "hooks.lab.test": ["10.0.0.9"]}.get(host, [])


def test_notifications_and_registered_forges_follow_the_tenant_apis_url_rules(
    store: Store, tmp_path: Path
) -> None:
    engine = Engine(store, fake_sites(FakeWorld()), [], settings=EngineSettings(workers=0))
    refresher = RegistrationRefresher(engine, cache_dir=tmp_path, interval=0)
    urls = UrlPolicy.of(resolver=_lab)

    guard_registered_traffic(engine, refresher, urls)

    checks = (engine.notifier.check, refresher.url_check)
    guards = (engine.notifier.guarded, refresher.guarded)
    for check, guarded in zip(checks, guards, strict=True):
        assert check is not None
        assert guarded is not None
        check("https://git.example.com/hooks")
        with pytest.raises(UrlRefused, match="is private"):
            check("https://hooks.lab.test/")
        transport = guarded()
        assert isinstance(transport, GuardedTransport)
        assert transport.policy is urls
        with pytest.raises(UrlRefused, match="is private"):
            transport.handle_request(httpx.Request("POST", "https://hooks.lab.test/"))
    assert "notification URL" in _refusal(engine.notifier.check)
    assert "forge API URL" in _refusal(refresher.url_check)


def _refusal(check: object) -> str:
    assert callable(check)
    with pytest.raises(UrlRefused) as refused:
        check("http://127.0.0.1/")
    return refused.value.message
