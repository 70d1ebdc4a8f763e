"""Build and run vcsim, govmomi's vCenter simulator, for tests, benchmarks and the demo.

``main.go`` beside this module is compiled with Debian's Go toolchain against Debian's govmomi
sources (GOPATH mode, nothing downloaded) into a cache folder, once per version of ``main.go``.
``start()`` runs it on a loopback port and returns once it answers; ``Vcsim.stop()`` ends it by
process id. Usage::

    # once per machine: apt-get install -y golang-go golang-github-vmware-govmomi-dev
    from simulators.vcsim import launcher

    with launcher.running(username="user", password="pass") as sim:
        si = SmartConnect(host=sim.host, port=sim.port, user=sim.username,
                          pwd=sim.password, protocol="http")

The inventory is govmomi's VPX model (datacenter DC0, cluster DC0_C0, datastore LocalDS_0,
network "VM Network") plus the template ``ubuntu-2404-docker``. The cache folder is
``$RXT_VCSIM_CACHE`` or the user cache folder. See docs/simulators/vcsim.md for the inventory
and where the simulator differs from vCenter.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

SOURCE = Path(__file__).with_name("main.go")
GOPATH_ROOT = Path("/usr/share/gocode")
GOVMOMI_SIMULATOR = GOPATH_ROOT / "src/github.com/vmware/govmomi/simulator"
DEBIAN_PACKAGES = ("golang-go", "golang-github-vmware-govmomi-dev")
TEMPLATE = "ubuntu-2404-docker"
READY_PREFIX = "vcsim ready "

# Started processes by pid: holding the Popen object lets stop() reap the child and close its
# pipe, instead of leaving a zombie and a ResourceWarning behind.
_PROCESSES: dict[int, subprocess.Popen[str]] = {}


class VcsimUnavailable(RuntimeError):
    """vcsim cannot be built or started on this machine; the message says what to install."""


@dataclass(frozen=True, slots=True)
class Vcsim:
    """One running simulator: where it listens, how to log in, and its process id."""

    url: str
    username: str
    password: str
    pid: int
    template: str = TEMPLATE

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    def stop(self, *, timeout: float = 10.0) -> None:
        """Ask the process to end (SIGTERM), then kill it if it has not ended in time."""
        _end_process(self.pid, timeout=timeout)


def cache_dir() -> Path:
    """Where built binaries live: ``$RXT_VCSIM_CACHE`` or the user cache folder."""
    override = os.environ.get("RXT_VCSIM_CACHE")
    if override:
        return Path(override)
    return platformdirs.user_cache_path("rxt-deploy") / "vcsim"


def binary_path(directory: Path | None = None) -> Path:
    """The binary for the current ``main.go``: its name carries the source's hash."""
    source_hash = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    return (directory or cache_dir()) / f"vcsim-{source_hash}"


def build(*, directory: Path | None = None, timeout: float = 600.0) -> Path:
    """Compile ``main.go`` unless a binary of this exact source exists; return its path.

    Raises:
        VcsimUnavailable: Go or govmomi's sources are missing, or the build failed.
    """
    target = binary_path(directory)
    if target.exists():
        return target
    go = _go_toolchain()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Parallel test workers would each spend half a minute compiling; one builds, others wait.
    with open(target.parent / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            _compile(go, target=target, timeout=timeout)
    return target


def _go_toolchain() -> str:
    go = shutil.which("go") or shutil.which("go", path="/usr/lib/go/bin")
    missing = []
    if not go:
        missing.append("the Go toolchain (golang-go)")
    if not GOVMOMI_SIMULATOR.is_dir():
        missing.append("govmomi's sources (golang-github-vmware-govmomi-dev)")
    if missing or go is None:
        raise VcsimUnavailable(
            f"cannot build vcsim: missing {' and '.join(missing)}; "
            f"install with: apt-get install -y {' '.join(DEBIAN_PACKAGES)} (or run `make debs`)",
        )
    return go


def _compile(go: str, *, target: Path, timeout: float) -> None:
    work = target.parent
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{GOPATH_ROOT}:{work / 'gopath'}",
        "GOCACHE": str(work / "gocache"),
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
    }
    partial = target.with_name(target.name + ".partial")
    result = subprocess.run(  # noqa: S603 - fixed argv: our Go binary and our own source
        [go, "build", "-o", str(partial), str(SOURCE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise VcsimUnavailable(f"building vcsim failed:\n{result.stderr.strip()[-4000:]}")
    os.replace(partial, target)


def start(
    *,
    username: str = "user",
    password: str = "pass",  # noqa: S107 - a throwaway login for a loopback simulator
    port: int = 0,
    template: str = TEMPLATE,
    timeout: float = 60.0,
) -> Vcsim:
    """Build when needed, start vcsim on 127.0.0.1 and return once it answers HTTP.

    ``port=0`` lets the simulator take a free port itself, which no other process can race.

    Raises:
        VcsimUnavailable: it could not be built, or did not become ready within ``timeout``.
    """
    binary = build()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the child, closed below
    process = subprocess.Popen(  # noqa: S603 - our own freshly built binary
        [
            str(binary),
            f"-listen=127.0.0.1:{port}",
            f"-username={username}",
            f"-password={password}",
            f"-template={template}",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        url = _await_ready_line(process, timeout=timeout)
        _await_http(url, deadline=time.monotonic() + timeout)
    except VcsimUnavailable as error:
        _PROCESSES[process.pid] = process
        _end_process(process.pid, timeout=5.0)
        log.seek(0)
        raise VcsimUnavailable(f"{error}\n{log.read().decode(errors='replace')[-2000:]}") from None
    finally:
        log.close()
    _PROCESSES[process.pid] = process
    return Vcsim(url=url, username=username, password=password, pid=process.pid, template=template)


@contextmanager
def running(**options: object) -> Iterator[Vcsim]:
    """``with running() as sim:`` starts a simulator and stops it on the way out."""
    sim = start(**options)  # type: ignore[arg-type]
    try:
        yield sim
    finally:
        sim.stop()


def _await_ready_line(process: subprocess.Popen[str], *, timeout: float) -> str:
    box: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(READY_PREFIX):
                box.append(line[len(READY_PREFIX) :].strip())
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not box:
        raise VcsimUnavailable(f"vcsim (pid {process.pid}) did not report ready in {timeout:.0f}s")
    return box[0]


def _await_http(url: str, *, deadline: float) -> None:
    about = url.removesuffix("/sdk") + "/about"
    while True:
        try:
            # the URL is the simulator's own http://127.0.0.1 address, never user input
            with urllib.request.urlopen(about, timeout=2.0) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise VcsimUnavailable(f"vcsim at {url} did not answer {about}")
        time.sleep(0.05)


def _end_process(pid: int, *, timeout: float) -> None:
    process = _PROCESSES.pop(pid, None)
    if process is None:
        _signal_foreign(pid)
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _signal_foreign(pid: int) -> None:
    """Stop a simulator started by another process of ours (it cannot be reaped from here)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
