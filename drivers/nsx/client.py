"""The HTTP client of the NSX driver: authentication, bounded jittered retries, error mapping.

Only ``drivers.nsx`` uses it; httpx exceptions never leave this module unwrapped.
"""

from __future__ import annotations

import functools
import random
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from core.logs import get_logger, register_secret
from drivers.nsx.errors import (
    FatalError,
    PlatformError,
    SessionRejected,
    StaleRevision,
    TransientError,
    classify,
    error_code,
)

API = "/policy/api/v1"
SESSION_CREATE = "/api/session/create"
XSRF_HEADER = "X-XSRF-TOKEN"

log = get_logger(driver="nsx")


@dataclass(frozen=True)
class NsxSettings:
    """How to reach one NSX Manager and how patient to be with it.

    Attributes:
        url: the manager's base URL, ``https://nsx.example.com`` (no API path).
        auth: ``basic`` on every request, or ``session`` (cookie plus XSRF token).
        verify: TLS verification: True, False, or a CA bundle path.
        max_attempts: tries per request, the first included, before a TransientError.
        backoff_seconds: the first retry's backoff ceiling; it doubles per attempt (full jitter).
        max_backoff_seconds: the ceiling of one backoff, and of an honoured Retry-After.
    """

    url: str
    username: str
    password: str = field(repr=False)
    auth: Literal["basic", "session"] = "basic"
    verify: bool | str = True
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    realization_timeout_seconds: float = 300.0
    poll_seconds: float = 2.0
    page_size: int = 1000


class NsxClient:
    """One connection pool to one NSX Manager; every method retries what is worth retrying."""

    def __init__(
        self,
        settings: NsxSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        register_secret(settings.password)  # never printed, even inside an error's text
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - backoff jitter, not cryptography
        self.retries: Counter[str] = Counter()
        self.calls = 0
        auth = (settings.username, settings.password) if settings.auth == "basic" else None
        self._http = httpx.Client(
            base_url=settings.url,
            auth=auth,
            verify=_tls_context(settings.verify),
            timeout=settings.timeout_seconds,
            transport=transport,
        )
        self._logged_in = False

    def close(self) -> None:
        self._http.close()

    # --- the verbs the driver uses ---------------------------------------------------------

    def get(self, path: str, *, what: str, params: dict[str, str] | None = None) -> Any:
        """GET ``/policy/api/v1{path}``; raises NotFound for 404."""
        return self.request("GET", path, what=what, params=params)

    def list_all(self, path: str, *, what: str) -> list[dict[str, Any]]:
        """Every result of a list endpoint, following ``cursor`` until there is none."""
        results: list[dict[str, Any]] = []
        params = {"page_size": str(self.settings.page_size)}
        while True:
            page = self.request("GET", path, what=what, params=params)
            results.extend(page.get("results", []))
            cursor = page.get("cursor")
            if not cursor:
                return results
            params = {**params, "cursor": str(cursor)}

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        """Send one request with bounded retries; returns the decoded JSON body (or None).

        Raises:
            PlatformError: classified by status and ``error_code``; StaleRevision is never
                retried here, the driver re-reads first.
        """
        renewed = False
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                return self._once(method, API + path, params=params, body=body, what=what)
            except SessionRejected:
                if self.settings.auth != "session" or renewed:
                    raise
                renewed, self._logged_in = True, False  # a new session, once, costs no attempt
                continue
            except StaleRevision:
                raise
            except TransientError as error:
                if attempt == self.settings.max_attempts:
                    raise TransientError(
                        f"{error.message} (gave up after {attempt} attempts)",
                        hint="NSX kept failing; the next reconcile retries",
                        resource=what,
                    ) from error
                self._back_off(attempt, error)
        raise AssertionError("unreachable: the loop returns or raises")

    # --- one attempt -----------------------------------------------------------------------

    def _once(
        self, method: str, url: str, *, params: dict[str, str] | None, body: Any, what: str
    ) -> Any:
        if self.settings.auth == "session" and not self._logged_in:
            self._login()
        self.calls += 1
        try:
            response = self._http.request(method, url, params=params, json=body)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            raise FatalError(
                f"NSX URL {self.settings.url!r} is not usable: {error}",
                hint="set the NSX URL to https://<manager>",
            ) from error
        except httpx.TimeoutException as error:
            raise _Retry("timeout", f"NSX timed out on {what}") from error
        except httpx.HTTPError as error:  # resets, refused connections, protocol errors
            raise _Retry("connection", f"NSX connection failed on {what}: {error!r}") from error
        payload = _json_or_none(response)
        if response.status_code < 400:
            if payload is None and response.content:
                raise _Retry("garbled", f"NSX answered {what} with a body that is not JSON")
            return payload
        failure = classify(response.status_code, payload, what=what)
        if isinstance(failure, TransientError) and not isinstance(failure, StaleRevision):
            code = error_code(payload)
            raise _Retry(
                f"{response.status_code}/{code}" if code else str(response.status_code),
                failure.message,
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        raise failure

    def _login(self) -> None:
        form = {"j_username": self.settings.username, "j_password": self.settings.password}
        self.calls += 1
        try:
            response = self._http.post(SESSION_CREATE, data=form)
        except httpx.HTTPError as error:
            raise _Retry("connection", f"NSX session creation failed: {error!r}") from error
        if response.status_code >= 400:
            raise classify(response.status_code, _json_or_none(response), what="session create")
        self._http.headers[XSRF_HEADER] = response.headers.get(XSRF_HEADER, "")
        self._logged_in = True
        log.info("session.created", url=self.settings.url)

    def _back_off(self, attempt: int, error: TransientError) -> None:
        reason = error.reason if isinstance(error, _Retry) else type(error).__name__
        self.retries[reason] += 1
        ceiling = min(
            self.settings.max_backoff_seconds, self.settings.backoff_seconds * 2 ** (attempt - 1)
        )
        delay = self.rng.uniform(0, ceiling)  # full jitter keeps clients from retrying in step
        if isinstance(error, _Retry) and error.retry_after is not None:
            delay = min(self.settings.max_backoff_seconds, error.retry_after) + delay / 4
        log.info("request.retried", reason=reason, attempt=attempt, delay=round(delay, 3))
        self.sleep(delay)


class _Retry(TransientError):
    """A failure worth another attempt, with why (for the retry counters) and Retry-After."""

    def __init__(self, reason: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, hint="retried with jittered backoff")
        self.reason = reason
        self.retry_after = retry_after


@functools.cache
def _tls_context(verify: bool | str) -> ssl.SSLContext:
    # Building a context loads the CA bundle (about 60 ms); every driver instance shares one.
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is True:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=verify)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(value: str | None) -> float | None:
    # NSX sends delta-seconds; an HTTP date form is not honoured and falls back to backoff.
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


__all__ = ["NsxClient", "NsxSettings", "PlatformError"]
