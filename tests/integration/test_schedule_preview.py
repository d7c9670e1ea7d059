"""`shiplane schedule preview` (§8.2): what a config change closes, with CI exit codes."""

from datetime import date, timedelta

from tests.integration.test_cli import run

OLD = """
[[environments]]
slug = "production"

[[environments]]
slug = "staging"

[[freezes]]
environments = ["production"]
start = "2099-01-10T18:00:00"
end = "2099-01-11T06:00:00"
reason = "Data centre move"
"""

NEW = OLD.replace('"2099-01-11T06:00:00"', '"2099-01-11T08:00:00"') + """
[forges.github]
token = "${NOT_SET_IN_CI}"
"""


def files(tmp_path, old=OLD, new=NEW):
    (tmp_path / "old.toml").write_text(old)
    (tmp_path / "new.toml").write_text(new)
    return str(tmp_path / "old.toml"), str(tmp_path / "new.toml")


def test_the_same_schedule_exits_0(tmp_path):
    old, _ = files(tmp_path)
    r = run("schedule", "preview", "--config", old, "--against", old)
    assert (r.returncode, r.stdout.strip()) == (0, "no change in closed periods over the next 90 days"), r.stderr


def test_a_change_is_listed_and_exits_1(tmp_path):
    old, new = files(tmp_path)
    r = run("schedule", "preview", "--config", new, "--against", old, "--days", "400", env={"NOT_SET": "1"})
    # far in the future: outside 400 days, nothing differs yet
    assert r.returncode == 0, r.stdout + r.stderr
    day = date.today() + timedelta(days=10)
    after = day + timedelta(days=1)
    near = OLD.replace("2099-01-10", day.isoformat()).replace("2099-01-11", after.isoformat())
    old, new = files(tmp_path, near, near.replace(f'"{after}T06:00:00"', f'"{after}T08:00:00"'))
    r = run("schedule", "preview", "--config", new, "--against", old, "--days", "400")
    assert r.returncode == 1, r.stdout + r.stderr
    header, *rows = r.stdout.strip().splitlines()
    assert header.split()[:4] == ["environment", "change", "kind", "reason"]
    assert [row.split() for row in rows] == [  # by start, then end
        ["production", "removed", "freeze", "Data", "centre", "move", f"{day}T18:00:00Z", f"{after}T06:00:00Z"],
        ["production", "added", "freeze", "Data", "centre", "move", f"{day}T18:00:00Z", f"{after}T08:00:00Z"],
    ]
    r = run("schedule", "preview", "--config", new, "--against", old, "--days", "400", "--environment", "staging")
    assert r.returncode == 0


def test_against_defaults_to_shiplane_config_else_nothing(tmp_path):
    window = '[[windows]]\nenvironments = ["production"]\nstart = "09:00"\nend = "17:00"\n'
    (tmp_path / "new.toml").write_text(window)
    r = run("schedule", "preview", "--config", str(tmp_path / "new.toml"), "--days", "3")
    assert r.returncode == 1 and all(" added " in line for line in r.stdout.strip().splitlines()[1:])
    r = run("schedule", "preview", "--config", str(tmp_path / "new.toml"), "--days", "3", env={"SHIPLANE_CONFIG": str(tmp_path / "new.toml")})
    assert r.returncode == 0


def test_an_invalid_config_exits_2_with_file_key_reason(tmp_path):
    old, _ = files(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text('[[environments]]\nslug = "production"\ncooldown = "soon"\n')
    r = run("schedule", "preview", "--config", str(bad), "--against", old)
    assert r.returncode == 2
    assert f"{bad}: environments[0].cooldown: not a duration like '30s', '5m', '2h' or '1d': 'soon'" in r.stderr.splitlines()
    r = run("schedule", "preview", "--config", old, "--days", "401")
    assert r.returncode == 2
