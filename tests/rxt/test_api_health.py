"""Health, readiness, metrics, OpenAPI and problem details of the API (httpx over ASGI)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from rxt.api import ApiLimits, create_app
from tests.reconciler import payloads
from tests.reconciler.payloads import Recorder


def _app(**kwargs: Any) -> FastAPI:
    return create_app(secrets=payloads.secrets_for, enqueue=Recorder(), **kwargs)


def _call(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://rxt") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


@pytest.mark.parametrize("path", ["/healthz", "/livez"])
def test_the_process_reports_itself_alive(path: str) -> None:
    response = _call(_app(), "GET", path)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def _raises() -> None:
    raise ConnectionError("database down")


def test_readiness_runs_every_check_and_names_the_ones_that_failed() -> None:
    calls: list[str] = []
    checks = {
        "database": lambda: calls.append("database"),
        "queue": lambda: False,
        "git": _raises,
    }
    response = _call(_app(readiness=checks), "GET", "/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["checks"] == {
        "database": "ok",
        "queue": "failed",
        "git": "failed: ConnectionError",
    }
    assert "queue, git" in body["detail"]
    assert calls == ["database"]


def test_readiness_passes_when_every_check_passes() -> None:
    response = _call(_app(readiness={"database": lambda: True}), "GET", "/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_a_check_that_hangs_fails_after_its_timeout() -> None:
    release = threading.Event()
    app = _app(readiness={"slow": release.wait}, limits=ApiLimits(check_timeout=0.05))
    try:
        response = _call(app, "GET", "/readyz")
    finally:
        release.set()
    assert response.json()["checks"] == {"slow": "timed out after 0.05 s"}


METRIC_NAMES = [
    "rxt_reconcile_total",
    "rxt_reconcile_duration_seconds",
    "rxt_drift_detected_total",
    "rxt_policy_denials_total",
    "rxt_workqueue_depth",
    "rxt_apply_errors_total",
    "rxt_webhook_deliveries_total",
]


def test_metrics_expose_every_documented_series() -> None:
    app = _app(queue_depth=lambda: 7)
    response = _call(app, "GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in METRIC_NAMES:
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert "rxt_workqueue_depth 7.0" in text
    assert 'rxt_webhook_deliveries_total{outcome="bad_signature",provider="github"} 0.0' in text


def test_two_app_instances_keep_their_own_counts() -> None:
    first, second = _app(), _app()
    signed = payloads.github("push", payloads.github_push())
    _call(first, "POST", "/webhooks/github", content=signed.body, headers=signed.headers)
    assert first.state.rxt.metrics.webhook_count("github", "accepted") == 1
    assert second.state.rxt.metrics.webhook_count("github", "accepted") == 0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nowhere", 404), ("DELETE", "/healthz", 405), ("GET", "/webhooks/github", 405)],
)
def test_every_error_is_problem_json(method: str, path: str, status: int) -> None:
    response = _call(_app(), method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    assert body["instance"] == path


def test_a_validation_error_is_problem_json_with_pointers() -> None:
    app = _app()

    @app.get("/echo/{count}")
    async def echo(count: int) -> dict[str, int]:
        return {"count": count}

    response = _call(app, "GET", "/echo/many")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == "/path/count"


def test_an_unexpected_error_is_problem_json_without_a_traceback() -> None:
    app = _app()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    response = _call(app, "GET", "/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in response.text


def test_the_openapi_document_lists_the_routes_and_the_docs_are_served() -> None:
    app = _app()
    spec = _call(app, "GET", "/openapi.json").json()
    assert {"/webhooks/github", "/webhooks/gitlab", "/healthz", "/readyz", "/metrics"} <= set(
        spec["paths"]
    )
    github = spec["paths"]["/webhooks/github"]["post"]
    assert {p["name"] for p in github["parameters"]} >= {"X-Hub-Signature-256"}
    assert _call(app, "GET", "/docs").status_code == 200
