"""One pyVmomi session to vCenter, opened lazily and renewed after a failure, counting SOAP calls.

``VsphereDriver`` owns one; the inventory and applying modules reach vCenter only through it.
"""

from __future__ import annotations

import contextlib
import gc
import ssl
import threading
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

from core.errors import FatalError, PlatformError
from drivers.vsphere.faults import translated
from drivers.vsphere.sdk import Disconnect, SmartConnect, vim


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where vCenter listens and how to log in; ``protocol="http"`` only for the simulator."""

    host: str
    port: int = 443
    user: str = ""
    password: str = ""
    protocol: str = "https"
    verify_tls: bool = True

    def __repr__(self) -> str:
        return f"Endpoint({self.protocol}://{self.host}:{self.port}, user={self.user!r})"


class Session:
    """A logged-in service instance; ``calls`` counts every SOAP request sent through it."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._counter = [0]
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._lock = threading.Lock()
        self._si: Any = None
        self._content: Any = None

    @property
    def calls(self) -> int:
        """SOAP requests sent so far, the login excluded."""
        return self._counter[0]

    @property
    def content(self) -> Any:
        """The ``ServiceContent`` (root folder, managers), connecting on first use."""
        with self._lock:
            if self._content is None:
                self._connect()
            return self._content

    def forget(self) -> None:
        """Drop the session after a transport failure; the next use logs in again."""
        with self._lock:
            si, self._si, self._content = self._si, None, None
            finalizer, self._finalizer = self._finalizer, None
        if si is not None:
            _quiet_disconnect(si)
        if finalizer is not None:
            finalizer.detach()

    def close(self) -> None:
        """Log out."""
        self.forget()

    def managed(self, kind: str, moref: str) -> Any:
        """A reference to the managed object ``moref`` of type ``kind`` on this session."""
        self.content  # noqa: B018 - connects when not connected yet
        return getattr(vim, kind)(moref, self._si._stub)

    def find(self, inventory_path: str) -> Any:
        """The managed object at ``inventory_path`` (``DC0/vm/acme-prod``), or None."""
        with translated(resource=inventory_path, doing="looking up"):
            return self.content.searchIndex.FindByInventoryPath(inventoryPath=inventory_path)

    def _connect(self) -> None:
        endpoint = self.endpoint
        context = None
        if endpoint.protocol == "https":
            context = ssl.create_default_context()
            if not endpoint.verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        si = _login(endpoint, context)
        if si is None:
            raise FatalError(f"{endpoint!r}: login returned no session", hint="check the site URL")
        self._count_calls(si)
        self._si = si
        self._content = si.RetrieveContent()

    def _count_calls(self, si: Any) -> None:
        # Every SOAP request, accessors included, passes through the stub's InvokeMethod. The
        # wrapper holds only the counter, not the session, so no reference cycle keeps a dropped
        # session (and its sockets) alive until the cyclic garbage collector runs.
        stub, counter = si._stub, self._counter
        invoke = stub.InvokeMethod

        def counted(*args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            return invoke(*args, **kwargs)

        stub.InvokeMethod = counted
        # A driver dropped without close() still closes its pooled connections.
        self._finalizer = weakref.finalize(self, stub.DropConnections)


def _login(endpoint: Endpoint, context: ssl.SSLContext | None) -> Any:
    error: PlatformError | None = None
    # pyVmomi keeps the connection of a failed login open, reachable from the fault's traceback.
    # The engine error is therefore raised without that chain, once the traceback is dropped and
    # collected here, so the socket closes now rather than warning at some later moment.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            with translated(resource=repr(endpoint), doing="logging in"):
                return SmartConnect(
                    host=endpoint.host,
                    port=endpoint.port,
                    user=endpoint.user,
                    pwd=endpoint.password,
                    protocol=endpoint.protocol,
                    sslContext=context,
                )
        except PlatformError as failed:
            error = failed
            error.__cause__ = error.__context__ = None
            error.__traceback__ = None
        gc.collect()
    raise error


def _quiet_disconnect(si: Any) -> None:
    # A session already dead on the server side has nothing to log out of.
    with contextlib.suppress(vim.fault.NotAuthenticated, OSError, ConnectionError):
        Disconnect(si)
