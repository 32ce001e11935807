"""One search study shared through a real PostgreSQL server, as several machines would share it.

The fixture starts a throw-away server (initdb + pg_ctl) in a temporary folder, listening on
127.0.0.1 on a free port only, and stops it afterwards. PostgreSQL refuses to run as root, so as
root the server runs as the ``postgres`` system user (present wherever the server package is
installed) or, failing that, as a system user ``mlplab-pg`` created here. The binaries are looked up
in ``$MLPLAB_PG_BIN``, ``pg_config --bindir``, ``/usr/lib/postgresql/*/bin`` (Debian, Ubuntu),
``/usr/pgsql-*/bin`` (RHEL), Homebrew and ``PATH``. When no server can be started the tests fail
(in CI they never skip: .ci/run installs the server package; elsewhere they skip, saying why, only
when no server binaries exist).
"""
from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mlplab import cli, search
from mlplab.search import cli as search_cli

PASSWORD = "pg-S3cret-for-tests"
USER = "mlplab"


def _version_key(path: str) -> tuple:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def find_pg_bin() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``; ``pytest.fail`` naming what was tried if none."""
    candidates: list[str] = []
    if os.environ.get("MLPLAB_PG_BIN"):
        candidates.append(os.environ["MLPLAB_PG_BIN"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            candidates.append(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                             timeout=10).stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin",
                    "/opt/homebrew/opt/postgresql*/bin", "/usr/local/opt/postgresql*/bin"):
        candidates += sorted(glob.glob(pattern), key=_version_key, reverse=True)
    for tool in ("initdb", "pg_ctl"):
        found = shutil.which(tool)
        if found:
            candidates.append(str(Path(found).resolve().parent))
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    message = ("PostgreSQL server binaries (initdb, pg_ctl) not found; tried "
               f"{', '.join(dict.fromkeys(c for c in candidates if c)) or 'nothing'}. Install the server "
               "(Debian/Ubuntu: apt-get install postgresql) or set MLPLAB_PG_BIN to its bin folder.")
    # CI installs the server (.ci/run), so there a missing server is a failure. On a user's machine
    # that only has Python and pip, the README's test command skips these two tests and says why.
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message + " (CI installs it and runs these tests.)")


def _server_account() -> pwd.struct_passwd | None:
    """None when not root (the server runs as us); else the unprivileged account to run it as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "mlplab-pg"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "mlplab-pg"],
                   capture_output=True)  # may race with another test process: look it up either way
    try:
        return pwd.getpwnam("mlplab-pg")
    except KeyError:
        pytest.fail("running as root and could not create the system user mlplab-pg to run PostgreSQL as")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A PostgreSQL server in a temporary folder on 127.0.0.1:``port``, password authentication."""

    def __init__(self) -> None:
        self.bin = find_pg_bin()
        self.account = _server_account()
        self.dir = Path(tempfile.mkdtemp(prefix="mlplab-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = 0
        self.started = False

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        kw = {}
        if self.account is not None:
            kw = dict(user=self.account.pw_uid, group=self.account.pw_gid, extra_groups=[])
            env.update(HOME=str(self.dir), USER=self.account.pw_name, LOGNAME=self.account.pw_name)
        return subprocess.run(args, cwd=self.dir, env=env, capture_output=True, text=True, timeout=timeout, **kw)

    def start(self) -> "PostgresServer":
        pwfile = self.dir / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self.account is not None:
            os.chown(self.dir, self.account.pw_uid, self.account.pw_gid)
            os.chown(pwfile, self.account.pw_uid, self.account.pw_gid)
        r = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile),
                      "-A", "scram-sha-256", "--encoding", "UTF8", "--locale", "C", "--no-sync")
        if r.returncode != 0:
            pytest.fail(f"initdb failed ({r.returncode}): {r.stderr or r.stdout}")
        for attempt in range(3):  # the free port may be taken by someone else before we bind it
            self.port = _free_port()
            with open(self.data / "postgresql.conf", "a") as f:
                f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                        f"unix_socket_directories = '{self.dir}'\nfsync = off\nsynchronous_commit = off\n"
                        "full_page_writes = off\nmax_connections = 40\nshared_buffers = 16MB\n")
            r = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                          "start")
            if r.returncode == 0:
                self.started = True
                return self
        log = self.log.read_text() if self.log.exists() else ""
        pytest.fail(f"pg_ctl start failed: {r.stderr or r.stdout}\n{log[-2000:]}")

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.started:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pg():
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


pytestmark = pytest.mark.usefixtures("quiet_optuna")


def _sql(url: str, query: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_two_worker_processes_share_one_study_through_postgres(pg, tmp_path, capsys):
    space = tmp_path / "space.toml"
    space.write_text('lr = { type = "log_uniform", low = 1e-3, high = 3e-2 }\n'
                     'hidden = { type = "categorical", choices = ["16", "32"] }\nepochs = 3\nbatch_size = 64\n')
    env = {**os.environ, search_cli.STORAGE_ENV: pg.url}  # the password stays off the command line
    cmd = [sys.executable, "-m", "mlplab.cli", "search", "--space", str(space), "--study", "shared", "--sampler", "tpe",
           "--no-progress", "--no-report", "--heartbeat", "5", "--trials", "6", "--jobs", "2"]
    # as on two machines: a command with two worker processes (6 trials) and, started at the same time,
    # a search in this process (2 trials), on the same empty database
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        here = search.run_search(space, storage=pg.url, study_name="shared", sampler="tpe", n_trials=2, heartbeat=5)
        out = proc.communicate(timeout=180)[0]
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "6 run now by 2 workers" in out and PASSWORD not in out and search.mask_url(pg.url) in out
    assert here.n_run == 2 and here.storage == search.mask_url(pg.url)

    study_id = _sql(pg.url, "SELECT study_id FROM studies WHERE study_name = 'shared'")
    assert len(study_id) == 1
    sid = study_id[0][0]
    (n, distinct), = _sql(pg.url, f"SELECT count(*), count(DISTINCT number) FROM trials WHERE study_id = {sid}")
    assert n == distinct == 8  # 6 + 2, every trial recorded once
    numbers = [r[0] for r in _sql(pg.url, f"SELECT number FROM trials WHERE study_id = {sid} ORDER BY number")]
    assert numbers == list(range(8))
    states = {r[0] for r in _sql(pg.url, f"SELECT state FROM trials WHERE study_id = {sid}")}
    assert states <= {"COMPLETE", "PRUNED"}
    assert _sql(pg.url, "SELECT trial_id, param_name FROM trial_params GROUP BY 1, 2 HAVING count(*) > 1") == []
    per_worker = _sql(pg.url, "SELECT value_json, count(*) FROM trial_user_attributes a JOIN trials t USING (trial_id) "
                              f"WHERE t.study_id = {sid} AND a.key = 'worker' GROUP BY value_json")
    assert sorted(c for _, c in per_worker) == [2, 3, 3]  # three worker processes, each its share

    # the report reads the shared study and never shows the password
    rc = cli.main(["search", "--report", "--storage", pg.url, "--study", "shared", "--out", str(tmp_path / "rep")])
    out = capsys.readouterr().out
    assert rc == 0 and PASSWORD not in out and "8 trials in all" in out
    assert len((tmp_path / "rep" / "results.csv").read_text().strip().splitlines()) == 1 + 8
    assert PASSWORD not in (tmp_path / "rep" / "report.md").read_text()


def test_wrong_password_and_other_space_on_postgres(pg):
    bad = pg.url.replace(PASSWORD, "wrong-pw-123")
    with pytest.raises(ValueError) as info:
        search.open_storage(bad)
    msg = str(info.value)
    assert "cannot reach storage" in msg and f"mlplab:***@127.0.0.1:{pg.port}/postgres" in msg
    assert "wrong-pw-123" not in msg and PASSWORD not in msg

    space = {"lr": search.LogUniform(1e-3, 1e-1), "hidden": "16", "epochs": 2}
    search.run_search(space, storage=pg.url, study_name="fixed-space", n_trials=1, sampler="random")
    with pytest.raises(ValueError, match=r"'fixed-space' in postgresql://mlplab:\*\*\*@.*different search space"):
        search.run_search({**space, "epochs": 3}, storage=pg.url, study_name="fixed-space", n_trials=1)
