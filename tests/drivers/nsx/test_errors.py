"""NSX error answers map to the core error classes by status and error_code, never by text."""

from __future__ import annotations

import pytest

from core.errors import (
    FatalError,
    InvalidRequest,
    NotFound,
    PlatformError,
    TransientError,
)
from drivers.nsx.errors import InUse, PendingDelete, SessionRejected, StaleRevision, classify


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (412, 604, StaleRevision),
        (409, 0, StaleRevision),
        (400, 500045, PendingDelete),
        (400, 60508, TransientError),
        (400, 500030, InUse),
        (400, 500012, InvalidRequest),
        (422, None, InvalidRequest),
        (404, 202, NotFound),
        (401, 401, SessionRejected),
        (403, 98, SessionRejected),
        (403, 403, FatalError),
        (429, None, TransientError),
        (500, 607, TransientError),
        (503, None, TransientError),
        (504, None, TransientError),
        (501, None, FatalError),
    ],
)
def test_an_answer_is_classified_by_status_and_error_code(
    status: int, code: int | None, expected: type[PlatformError]
) -> None:
    body = {"httpStatus": "X", "error_code": code, "module_name": "Policy", "error_message": "m"}
    error = classify(status, body, what="/infra/segments/web")
    assert type(error) is expected
    assert "/infra/segments/web" in error.message
    assert error.hint


def test_the_message_text_never_decides_the_class() -> None:
    body = {"error_code": 500012, "error_message": "retry later, marked for deletion, 412"}
    assert type(classify(400, body, what="x")) is InvalidRequest


def test_a_foreign_error_message_is_capped() -> None:
    error = classify(400, {"error_message": "x" * 5000}, what="x")
    assert len(error.message) < 400


def test_a_body_that_is_not_json_still_classifies() -> None:
    assert isinstance(classify(503, None, what="x"), TransientError)
