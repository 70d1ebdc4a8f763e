"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

``create_app`` installs these handlers, so FastAPI's default ``{"detail": ...}`` never leaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from core.logs import get_logger

PROBLEM_JSON = "application/problem+json"
log = get_logger()


def problem(
    status: int,
    *,
    detail: str = "",
    instance: str = "",
    type_: str = "about:blank",
    title: str = "",
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem response; ``title`` defaults to the status phrase, as ``about:blank`` asks."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _http_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    detail = error.detail if isinstance(error.detail, str) else ""
    return problem(
        error.status_code, detail=detail, instance=request.url.path, headers=error.headers
    )


async def _validation_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"pointer": "/" + "/".join(str(part) for part in item["loc"]), "detail": item["msg"]}
        for item in error.errors()
    ]
    return problem(422, detail="the request is not valid", instance=request.url.path, errors=errors)


async def _internal_problem(request: Request, error: Exception) -> JSONResponse:
    # The traceback goes to the log, never to the caller.
    log.error("request.failed", path=request.url.path, error=type(error).__name__)
    return problem(500, detail="an internal error occurred", instance=request.url.path)


def install(app: FastAPI) -> None:
    """Answer every HTTP, validation and unexpected error as problem details."""
    app.add_exception_handler(HTTPException, _http_problem)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(Exception, _internal_problem)
