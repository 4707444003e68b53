"""A real MLflow tracking server backed by a real PostgreSQL server, both started here on loopback.

Session-scoped and lazy: nothing starts unless a test asks for `postgres_url` or `mlflow_server`.
Where the PostgreSQL binaries are missing (scripts/test.sh installs them when it can), those tests skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    # Ask the kernel for a free loopback port; the tiny race until the server binds it is acceptable in tests.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_bin() -> Path | None:
    # Debian's postgresql-NN packages keep the server tools off PATH, one dir per major version: take the newest.
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL cluster on 127.0.0.1:<free port> with an empty `mlflow` database."""
    bindir = _postgres_bin()
    if bindir is None:
        message = "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin); scripts/test.sh installs them"
        if os.environ.get("CI"):  # CI's test command installs PostgreSQL: a missing server there is a failure
            pytest.fail(message)
        pytest.skip(message)  # a developer machine without root/apt: say why, run the rest
    # postgres refuses to run as root: as root, run the server tools as the `postgres` system user.
    # runuser lives in /usr/sbin, which a minimal PATH (env -i, some CI runners) leaves out.
    runuser = shutil.which("runuser") or next((p for p in ("/usr/sbin/runuser", "/sbin/runuser") if Path(p).is_file()), "runuser")
    as_owner = [runuser, "-u", "postgres", "--"] if os.geteuid() == 0 else []
    # Not under pytest's tmp_path: /tmp/pytest-of-root is 0700, which the postgres user could not enter.
    root = Path(tempfile.mkdtemp(prefix="seqgen-pg-"))
    if as_owner:
        shutil.chown(root, "postgres", "postgres")
    data, log, port = root / "data", root / "postgres.log", _free_port()

    def tool(name, *args, timeout=60, owner=True):
        return subprocess.run([*(as_owner if owner else []), str(bindir / name), *args],
                              capture_output=True, text=True, timeout=timeout)

    started = time.monotonic()
    try:
        # Trust auth: a local, single-user, throwaway cluster; C locale so it doesn't depend on installed locales.
        r = tool("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
        assert r.returncode == 0, f"initdb failed:\n{r.stdout}\n{r.stderr}"
        # Loopback only, socket in our own dir (not /var/run/postgresql); durability off since the data is thrown away.
        opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        r = tool("pg_ctl", "start", "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", timeout=90)
        assert r.returncode == 0, f"pg_ctl start failed:\n{r.stdout}\n{r.stderr}\n{_tail(log)}"
        deadline = time.monotonic() + 30
        while tool("pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port), owner=False).returncode != 0:
            assert time.monotonic() < deadline, f"postgres not accepting connections:\n{_tail(log)}"
            time.sleep(0.2)
        r = tool("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow", owner=False)
        assert r.returncode == 0, f"createdb failed:\n{r.stderr}"
        print(f"\n[postgres] ready on 127.0.0.1:{port} in {time.monotonic() - started:.1f}s", file=sys.stderr)
        yield f"postgresql://postgres@127.0.0.1:{port}/mlflow"
    finally:
        if (data / "postmaster.pid").exists():
            tool("pg_ctl", "stop", "-D", str(data), "-m", "fast", "-w")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_server(postgres_url, tmp_path_factory):
    """`mlflow server` on 127.0.0.1:<free port>, runs and registry in Postgres, artifacts proxied to a tmp dir."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port, log = _free_port(), root / "server.log"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; name the driver we ship (psycopg2-binary).
    backend = postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    cmd = [sys.executable, "-m", "mlflow", "server",
           "--backend-store-uri", backend,  # also the registry store (no --registry-store-uri)
           "--artifacts-destination", str(root / "artifacts"),  # clients get mlflow-artifacts:/ URIs, served by it
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    started = time.monotonic()
    with open(log, "wb") as out:
        # Own process group: the CLI spawns uvicorn as a child, and teardown must stop both.
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90  # first start runs all the schema migrations against Postgres
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy after 90s:\n{_tail(log)}")
            time.sleep(0.5)
        print(f"\n[mlflow] server ready at {url} in {time.monotonic() - started:.1f}s", file=sys.stderr)
        yield url
    finally:
        # Signal the whole group even if the CLI itself already exited: its uvicorn child may not have.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=15)
                break
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture
def tracking_server(mlflow_server, monkeypatch):
    """Point the mlflow client at the server for one test, then put the global tracking URI back as it was."""
    import mlflow
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service import utils as tracking_utils

    previous = tracking_utils._tracking_uri  # None unless something called set_tracking_uri
    # monkeypatch undoes these last: the env vars set_tracking_uri/set_experiment write, and the active
    # experiment id, which would otherwise point later tests at an experiment of this server.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    mlflow.set_tracking_uri(mlflow_server)
    yield mlflow_server
    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)
