"""``POST /webhooks/github`` and ``/webhooks/gitlab``: read the body with a size cap and a
deadline, hand it to the reconciler's intake off the event loop, answer at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from reconciler.webhooks import Provider, WebhookRejected
from rxt.api.problems import problem
from rxt.api.state import ApiState

router = APIRouter(tags=["webhooks"])


def _doc(provider: str, headers: list[tuple[str, str]]) -> dict[str, Any]:
    """OpenAPI for a route that reads its raw body itself (the signature covers the bytes)."""
    return {
        "requestBody": {
            "required": True,
            "description": f"The {provider} webhook payload, unchanged. At most 1 MiB.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "parameters": [
            {
                "name": name,
                "in": "header",
                "required": True,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in headers
        ],
    }


_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Verified and queued; the work happens later."},
    200: {"description": "A delivery already received; nothing more is done."},
    400: {"description": "Malformed, or an event that is not handled."},
    403: {"description": "The signature or token was not verified."},
    408: {"description": "The body did not arrive within the read timeout."},
    413: {"description": "The body is over the size limit."},
    429: {"description": "Too many deliveries for this repository; see Retry-After."},
    503: {"description": "The work queue is unavailable; see Retry-After."},
}


@router.post(
    "/webhooks/github",
    status_code=202,
    responses=_RESPONSES,
    openapi_extra=_doc(
        "GitHub",
        [
            ("X-GitHub-Event", "push, pull_request or ping"),
            ("X-GitHub-Delivery", "the delivery's GUID; each is handled once"),
            ("X-Hub-Signature-256", "sha256=<HMAC SHA-256 of the body under the secret>"),
        ],
    ),
)
async def github_webhook(request: Request) -> Response:
    """Receive a GitHub delivery: push, pull_request or ping."""
    return await _receive(request, "github")


@router.post(
    "/webhooks/gitlab",
    status_code=202,
    responses=_RESPONSES,
    openapi_extra=_doc(
        "GitLab",
        [
            ("X-Gitlab-Event", "Push Hook or Merge Request Hook"),
            ("X-Gitlab-Event-UUID", "the event's id (Idempotency-Key is preferred when sent)"),
            ("X-Gitlab-Token", "the webhook's secret token"),
        ],
    ),
)
async def gitlab_webhook(request: Request) -> Response:
    """Receive a GitLab delivery: Push Hook or Merge Request Hook."""
    return await _receive(request, "gitlab")


async def _receive(request: Request, provider: Provider) -> Response:
    state: ApiState = request.app.state.rxt
    started = time.perf_counter()
    try:
        body = await read_capped(
            request, limit=state.limits.max_body_bytes, timeout=state.limits.read_timeout
        )
        receipt = await run_in_threadpool(
            state.intake.receive, provider, dict(request.headers), body
        )
    except WebhookRejected as rejected:
        state.metrics.webhook(provider, rejected.outcome, seconds=time.perf_counter() - started)
        return _refusal(rejected, instance=request.url.path)
    state.metrics.webhook(provider, receipt.outcome, seconds=time.perf_counter() - started)
    body_out = {"status": receipt.outcome, "delivery": receipt.delivery_id}
    return JSONResponse(body_out, status_code=receipt.status)


async def read_capped(request: Request, *, limit: int, timeout: float) -> bytes:
    """The body, refused past ``limit`` bytes as soon as that is known, and within ``timeout``.

    A declared Content-Length over the limit is refused before reading a byte; a chunked or
    lying body is refused at the first chunk that crosses it.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _oversized(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _oversized(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise WebhookRejected(
            f"the body did not arrive within {timeout:g} s",
            outcome="timeout",
            status=408,
            hint="send the whole request at once",
        ) from None
    except ClientDisconnect:
        raise WebhookRejected("the client went away", outcome="malformed", status=400) from None
    return b"".join(chunks)


def _oversized(limit: int) -> WebhookRejected:
    return WebhookRejected(
        f"the body is over the {limit}-byte limit",
        outcome="oversized",
        status=413,
        hint="webhook payloads of Git hosts stay well under this; check what sends it",
    )


def _refusal(rejected: WebhookRejected, *, instance: str) -> Response:
    headers = {"Retry-After": str(rejected.retry_after)} if rejected.retry_after else None
    if rejected.status in (408, 413):
        # The rest of the body is never read, so the connection cannot be reused.
        headers = {**(headers or {}), "Connection": "close"}
    return problem(
        rejected.status,
        detail=rejected.message,
        instance=instance,
        type_=f"urn:rxt-deploy:problem:webhook-{rejected.outcome.replace('_', '-')}",
        headers=headers,
        outcome=rejected.outcome,
        hint=rejected.hint,
    )
