"""The `shiplane` command, run as a user would run it."""

import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import BOB, sha
from tests.integration.live import LiveServer

SHIPLANE = str(Path(sys.executable).parent / "shiplane")


def run(*args, env=None, input=None):
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLANE_")} | (env or {})
    return subprocess.run([SHIPLANE, *args], env=full_env, input=input, capture_output=True, text=True, timeout=60)


def test_config_check_passes_a_good_file(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text('[[environments]]\nslug = "production"\n')
    r = run("config", "check", "--config", str(path))
    assert r.returncode == 0 and r.stdout.strip() == f"{path}: ok"


def test_config_check_prints_file_key_reason_and_exits_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[windows]]\nstart = "25:00"\nend = "15:30"\ntimezone = "Nowhere/City"\n[server]\ncolour = 1\n')
    r = run("config", "check", "--config", str(path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert f"{path}: windows[0].start: not a time of day HH:MM: '25:00'" in lines
    assert f"{path}: windows[0].timezone: unknown IANA time zone 'Nowhere/City'" in lines
    assert f"{path}: server.colour: unknown key" in lines


def test_serve_fails_at_start_on_a_bad_config(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[forges.github]\ntoken = "${MISSING_TOKEN}"\n')
    r = run("serve", "--config", str(path), env={"SHIPLANE_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert r.returncode == 2
    assert r.stderr.strip() == f"{path}: forges.github.token: environment variable 'MISSING_TOKEN' is not set (in '${{MISSING_TOKEN}}')"


def test_token_and_user_create_write_to_the_database(db, db_url):
    from shiplane.auth import service

    r = run("token", "create", "--name", "ci", "--role", "deployer", env={"SHIPLANE_DATABASE_URL": db_url})
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip().splitlines()[-1]
    with db.read() as conn:
        assert service.principal_for_digest(conn, service.hash_token(token)).role == "deployer"

    r = run("user", "create", "--username", "dana", "--role", "viewer", "--password-stdin",
            env={"SHIPLANE_DATABASE_URL": db_url}, input="correct horse\n")
    assert r.returncode == 0, r.stderr
    with db.read() as conn:
        assert service.verify_password(service.user_credentials(conn, "dana"), "dana", "correct horse").role == "viewer"
        assert service.verify_password(service.user_credentials(conn, "dana"), "dana", "correct horse\n") is None

    r = run("token", "create", "--name", "x", "--role", "root", env={"SHIPLANE_DATABASE_URL": db_url})
    assert r.returncode == 2 and "role" in r.stderr


def test_deploy_command_talks_to_the_server(db, db_url):
    with LiveServer(db_url) as server:
        env = {"SHIPLANE_URL": server.url, "SHIPLANE_TOKEN": BOB}
        r = run("deploy", "--service", "web", "--environment", "production", "--sha", sha(1), "--status", "started", env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("registered deploy ")
        r = run("deploy", "--service", "web", "--environment", "production", "--sha", sha(2), "--status", "started", env=env)
        assert r.returncode == 1
        assert r.stderr.strip().splitlines()[-1].startswith("error: deploy_in_progress:")
        r = run("deploy", "--service", "web", "--environment", "production", "--sha", "nothex", env=env)
        assert r.returncode == 1 and "sha" in r.stderr
        r = run("deploy", "--service", "web", "--environment", "production", "--sha", sha(3), env=env | {"SHIPLANE_TOKEN": "bad"})
        assert r.returncode == 1 and "unauthorized" in r.stderr
        items = httpx.get(f"{server.url}/api/v1/deploys", headers={"Authorization": f"Bearer {BOB}"}).json()["items"]
        assert [d["sha"] for d in items] == [sha(1)]


def test_client_commands_say_when_the_server_is_down():
    r = run("deploy", "--service", "web", "--environment", "production", "--sha", sha(1),
            env={"SHIPLANE_URL": "http://127.0.0.1:9", "SHIPLANE_TOKEN": "x"})
    assert r.returncode == 1 and r.stderr.startswith("error: cannot reach")
    assert len(r.stderr.strip().splitlines()) == 1


def test_serve_refuses_an_outdated_postgresql_schema(pg_url):
    from sqlalchemy import create_engine, text

    name = pg_url.rsplit("/", 1)[1] + "_fresh"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        r = run("serve", "--port", "0", env={"SHIPLANE_DATABASE_URL": url})
        assert r.returncode == 3
        assert r.stderr.strip() == (
            "error: the database schema is not up to date: run 'shiplane db upgrade' (or start with --migrate)"
        )
        r = run("db", "upgrade", env={"SHIPLANE_DATABASE_URL": url})
        assert r.returncode == 0 and "database at revision" in r.stdout
        with LiveServer(url):
            pass
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_lock_gate_unlock_from_a_pipeline(db, db_url):
    import time

    with LiveServer(db_url) as server:
        env = {"SHIPLANE_URL": server.url, "SHIPLANE_TOKEN": BOB}
        r = run("gate", "--environment", "production", "--service", "web", env=env)
        assert (r.returncode, r.stdout.strip()) == (0, "production/web: open")

        r = run("lock", "--environment", "production", "--reason", "no merges after 15:30", env=env)
        assert r.returncode == 0 and r.stdout.startswith("locked production (lock ")

        r = run("gate", "--environment", "production", "--service", "web", env=env)
        assert r.returncode == 1
        lines = r.stdout.strip().splitlines()
        assert lines[0] == "production/web: blocked"
        assert lines[1].strip() == "lock — no merges after 15:30 — by token:bob"

        r = run("lock", "--environment", "production", "--reason", "again", env=env)
        assert r.returncode == 1 and "already_locked" in r.stderr

        r = run("unlock", "--environment", "production", "--service", "web", env=env)
        assert r.returncode == 1 and "no active manual lock on production/web" in r.stderr
        r = run("unlock", "--environment", "production", "--note", "done", env=env)
        assert r.returncode == 0 and r.stdout.startswith("unlocked production")
        assert run("gate", "--environment", "production", env=env).returncode == 0

        # --wait sleeps until the gate's next change instead of hammering the server
        r = run("lock", "--environment", "production", "--reason", "short", "--expires", "2s", env=env)
        assert r.returncode == 0 and " until " in r.stdout
        t0 = time.monotonic()
        r = run("gate", "--environment", "production", "--wait", "20", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert 1.0 < time.monotonic() - t0 < 10

        r = run("lock", "--environment", "production", "--reason", "long", env=env)
        r = run("gate", "--environment", "production", "--wait", "1", env=env)
        assert r.returncode == 1
        r = run("lock", "--environment", "production", "--reason", "x", "--expires", "whenever", env=env)
        assert r.returncode == 2 and "--expires" in r.stderr


def test_judge_reads_files_and_takes_history(tmp_path):
    before = [1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 0.8, 1.1, 1.0, 1.2, 0.9, 1.0]
    after = [2 * v for v in before[::-1]]
    for name, values in {"before.txt": before, "after.txt": after, "day1.txt": after, "day2.txt": after[:9]}.items():
        (tmp_path / name).write_text("\n".join(map(str, values)) + "\n")
    (tmp_path / "nab.csv").write_text("timestamp,value\n" + "".join(f"2014-04-01 00:{i:02d}:00,{v}\n" for i, v in enumerate(after)))
    args = ["judge", "--baseline", str(tmp_path / "before.txt"), "--name", "5xx rate"]
    r = run(*args, "--current", str(tmp_path / "nab.csv"), "--step", "60")
    assert r.returncode == 1
    assert r.stdout.startswith("5xx rate: unhealthy (final) — 5xx rate +")
    assert "the evidence passed the always-valid threshold after 8 minutes" in r.stdout
    # the same rise on earlier days at this hour: not a regression
    r = run(*args, "--current", str(tmp_path / "after.txt"), "--history", str(tmp_path / "day1.txt"),
            "--history", str(tmp_path / "day2.txt"), "--json")
    assert r.returncode == 0, r.stdout
    import json

    (metric,) = json.loads(r.stdout)["metrics"]
    assert (metric["health"], metric["history_windows"]) == ("healthy", 2)
    r = run(*args, "--current", str(tmp_path / "after.txt"), "--history", str(tmp_path / "missing.txt"))
    assert r.returncode == 2 and "missing.txt" in r.stderr


def test_config_check_online_fails_clearly_when_the_sso_provider_is_unreachable(tmp_path):
    from tests.integration.live import free_port

    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    path = tmp_path / "sso.toml"
    path.write_text(f'[auth.oidc]\nissuer = "{issuer}"\nclient_id = "shiplane"\n')
    r = run("config", "check", "--online", "--config", str(path), env={"SHIPLANE_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert r.returncode == 1
    assert f"{path}: auth.oidc.issuer: single sign-on is unavailable: OpenID Connect discovery: ConnectError" in r.stderr


def test_dora_explain_failed_lists_the_failures_and_why(db, db_url):
    from datetime import timedelta

    from shiplane import clock

    now = clock.now()
    with LiveServer(db_url) as server:
        auth = {"Authorization": f"Bearer {BOB}"}
        ids = []
        for n, days in ((1, 3), (2, 2), (1, 1)):  # the third rolls the second back
            body = {"service": "web", "environment": "production", "sha": sha(n), "finished_at": (now - timedelta(days=days)).isoformat()}
            ids.append(httpx.post(f"{server.url}/api/v1/deploys", json=body, headers=auth).json()["id"])
        env = {"SHIPLANE_URL": server.url, "SHIPLANE_TOKEN": BOB}
        r = run("dora", "--explain", "failed", env=env)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.strip().splitlines()
        assert "failed for production" in lines[0] and lines[0].endswith(": 1 deploys")
        assert f"#{ids[1]}" in lines[1] and f"rolled back by #{ids[2]}" in lines[1]
        r = run("dora", "--explain", "speed", env=env)
        assert r.returncode == 1 and "metric" in r.stderr
