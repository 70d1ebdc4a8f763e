"""An OpenSSH server on loopback for the deploy-key tests, with its own host key, client key
and known_hosts; skipped where ``sshd`` is not installed (Debian: openssh-server)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def available() -> bool:
    """sshd and ssh-keygen are installed, and sshd's privilege separation folder can exist."""
    run_dir = Path("/run/sshd").exists() or os.access("/run", os.W_OK)
    return Path(SSHD).exists() and shutil.which("ssh-keygen") is not None and run_dir


@dataclass(frozen=True)
class SshServer:
    port: int
    private_key: str
    other_key: str  # a key the server does not know
    known_hosts_home: Path  # a home folder whose .ssh/known_hosts trusts the server


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_text()


def _config(folder: Path, port: int) -> Path:
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {folder / 'host_key'}",
        f"PidFile {folder / 'sshd.pid'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        "StrictModes no",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password",
    ]
    path = folder / "sshd_config"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def serving(folder: Path, *, port: int) -> Iterator[SshServer]:
    """Run sshd on ``port`` until the block ends; stopped by its process id."""
    folder.mkdir(parents=True)
    _keygen(folder / "host_key")
    private_key = _keygen(folder / "client_key")
    other_key = _keygen(folder / "other_key")
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    home = folder / "home"
    (home / ".ssh").mkdir(parents=True)
    host_key = " ".join((folder / "host_key.pub").read_text().split()[:2])
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(_config(folder, port))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, process)
        yield SshServer(port, private_key, other_key, home)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("sshd exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("sshd did not start listening")
