"""A real SSH server (Debian's openssh-server) on loopback, for DVC's SSH remote protocol.

Session-scoped and lazy: it starts only when a test asks for `ssh_server`. It has its own host key, accepts one
generated client key and nothing else, and serves SFTP (what dvc-ssh speaks). Where sshd is missing
(scripts/test.sh installs it when it can), the test skips, or fails under CI, whose test command installs it.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory):
    """{"url": "ssh://<user>@127.0.0.1:<port>", "keyfile": <client key>, "root": <a folder for remotes>}."""
    sshd = shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd", "/sbin/sshd") if Path(p).is_file()), None)
    if sshd is None:
        message = "sshd not found (Debian package openssh-server; scripts/test.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    home = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / key)], check=True)
    shutil.copy(home / "client_key.pub", home / "authorized_keys")
    port = _free_port()
    config = home / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {home / 'host_key'}", f"AuthorizedKeysFile {home / 'authorized_keys'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "PermitRootLogin prohibit-password",
        "StrictModes no",  # the keys live in pytest's temporary folders, whose modes sshd would otherwise refuse
        f"PidFile {home / 'sshd.pid'}", "Subsystem sftp internal-sftp", "",
    ]))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder, which a systemd unit would create
    log = home / "sshd.log"
    server = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, f"sshd exited:\n{log.read_text()}"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"sshd not answering:\n{log.read_text()}"
            time.sleep(0.2)
        yield {"url": f"ssh://{getpass.getuser()}@127.0.0.1:{port}", "keyfile": str(home / "client_key"), "root": home}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
