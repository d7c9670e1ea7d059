from datetime import timedelta

import pytest

from shiplane.settings import ConfigError, load_config_file, load_settings, parse_duration

FULL = """
[server]
public_url = "https://shiplane.example.com"
auto_create = true

[[environments]]
slug = "production"
production = true

[[services]]
slug = "web"
repo = "github:acme/web"
branch = "main"
merge_gate = "production"
status_context = "shiplane"

[[windows]]
environments = ["production"]
services = ["web"]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "15:30"
timezone = "America/Los_Angeles"

[[freezes]]
environments = ["production"]
start = "2026-12-20T00:00"
end = "2027-01-04T09:00"
timezone = "America/Los_Angeles"
reason = "Holiday freeze"

[[freezes]]
environments = ["production"]
cron = "0 18 * * fri"
duration = "63h"

[[holidays]]
environments = ["production"]
country = "US"
eve = true
timezone = "America/Los_Angeles"

[forges.github]
api_url = "https://api.github.com"
token = "${GITHUB_TOKEN}"
webhook_secret = "${GITHUB_WEBHOOK_SECRET}"
blocked_state = "pending"
writes_per_minute = 80
writes_per_hour = 500
[forges.bitbucket]
api_url = "https://api.bitbucket.org"
email = "bot@example.com"
api_token = "literal-token"
writes_per_minute = 0
[forges.gitlab]
api_url = "https://gitlab.com/api/v4"
token = "glpat"
webhook_token = "wh"

[sources.prometheus]
url = "http://127.0.0.1:9090"
[sources.sentry]
url = "https://sentry.io"
organization = "acme"
token = "s"
[sources.datadog]
site = "datadoghq.com"
api_key = "a"
app_key = "b"
[sources.signalfx]
realm = "us1"
token = "t"

[[metrics]]
name = "5xx rate"
environments = ["production"]
services = ["web"]
source = "prometheus"
query = 'sum(rate(http_requests_total{job="web",code=~"5.."}[1m]))'
regression = "increase"
critical = true
ailing_ratio = 1.2
unhealthy_ratio = 1.5

[[metrics]]
name = "checkout_errors"
source = "push"
regression = "increase"

[[checks]]
name = "homepage"
url = "https://status.example.com/"
environments = ["production"]
interval = "30s"
expect_status = 200

[health]
baseline = "60m"
window = "60m"
interval = "5m"
auto_lock = "unhealthy"
rollback_webhook = ""

[[notify]]
kind = "slack"
url = "${SLACK_WEBHOOK_URL}"
environments = ["production"]
events = ["lock", "window", "override", "health"]
[slack]
signing_secret = "sss"
allowed_users = []
"""

ENV = {"GITHUB_TOKEN": "ghp_x", "GITHUB_WEBHOOK_SECRET": "whs", "SLACK_WEBHOOK_URL": "https://hooks.slack.test/x"}


def write(tmp_path, text):
    path = tmp_path / "shiplane.toml"
    path.write_text(text)
    return path


def test_it_accepts_the_whole_spec_example(tmp_path):
    config = load_config_file(write(tmp_path, FULL), ENV)
    assert config.forges.github.token.get_secret_value() == "ghp_x"
    assert config.windows[0].days == ["mon", "tue", "wed", "thu", "fri"]
    assert config.freezes[1].duration == timedelta(hours=63)
    assert config.health.interval == timedelta(minutes=5)
    assert config.notify[0].url.get_secret_value() == "https://hooks.slack.test/x"


def test_it_never_shows_secrets_in_reprs(tmp_path):
    config = load_config_file(write(tmp_path, FULL), ENV)
    assert "ghp_x" not in repr(config)


def problems(tmp_path, text, env=None):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config_file(path, env or {})
    lines = info.value.lines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    return [line.removeprefix(f"{path}: ") for line in lines]


def test_it_names_a_missing_variable(tmp_path):
    out = problems(tmp_path, '[forges.github]\ntoken = "${NOPE}"\n')
    assert out == ["forges.github.token: environment variable 'NOPE' is not set (in '${NOPE}')"]


def test_it_rejects_unknown_keys(tmp_path):
    assert problems(tmp_path, "[server]\nauto_creat = true\n") == ["server.auto_creat: unknown key"]


@pytest.mark.parametrize(
    "text,key,fragment",
    [
        ('[[windows]]\nstart = "9:00"\nend = "15:30"\n', "windows[0].start", "'9:00'"),
        ('[[windows]]\nstart = "09:00"\nend = "15:30"\ntimezone = "Mars/Base"\n', "windows[0].timezone", "'Mars/Base'"),
        ('[[windows]]\nstart = "09:00"\nend = "15:30"\ndays = ["funday"]\n', "windows[0].days[0]", "'funday'"),
        (
            '[[freezes]]\nstart = "2026-12-20T00:00"\nend = "2026-12-19T00:00"\n',
            "freezes[0]",
            "is not after start",
        ),
        ('[[freezes]]\ncron = "61 * * * *"\nduration = "1h"\n', "freezes[0]", "bad cron expression '61 * * * *'"),
        ('[[holidays]]\ncountry = "XX"\n', "holidays[0]", "unknown holiday country 'XX'"),
        ('[[metrics]]\nname = "x"\nsource = "graphite"\n', "metrics[0].source", "'graphite'"),
        ('[health]\nwindow = "soon"\n', "health.window", "'soon'"),
        ('[forges.github]\nblocked_state = "red"\n', "forges.github.blocked_state", "'red'"),
        ('[[services]]\nslug = "web"\nrepo = "acme/web"\n', "services[0].repo", "'acme/web'"),
        ('[[checks]]\nname = "home"\nurl = "http://x"\ninterval = "0s"\n', "checks[0]", "interval 0s is below 1s"),
        ('[[checks]]\nname = "home"\nurl = "http://x"\ntimeout = "0s"\n', "checks[0]", "timeout must be more than 0s"),
        ('[[checks]]\nname = "a"\nurl = "http://x"\n[[checks]]\nname = "a"\nurl = "http://y"\n', "checks", "named 'a'"),
        ('[health]\nhistory_days = 99\n', "health.history_days", "99"),
        ('[health]\nstep = "5s"\n', "health.step", "step 5s is below 10s (got '5s')"),
        ('[health]\nstep = "10m"\n', "health.step", "above window / 8 (450s): the judge needs 8 points after a deploy (got '10m')"),
        ('[health]\nwindow = "30m"\nstep = "5m"\n', "health.step", "above window / 8 (225s)"),
        ('[health]\ninterval = "0s"\n', "health.interval", "interval 0s is below 1s"),
    ],
)
def test_it_reports_file_key_and_quoted_value(tmp_path, text, key, fragment):
    out = problems(tmp_path, text)
    assert any(line.startswith(f"{key}: ") and fragment in line for line in out), out


@pytest.mark.parametrize(
    "text, step, interval",
    [("", 60, 60), ('[health]\nstep = "30s"\n', 30, 30), ('[health]\nstep = "30s"\ninterval = "5m"\n', 30, 300)],
)
def test_health_interval_defaults_to_the_step(tmp_path, text, step, interval):
    health = load_config_file(write(tmp_path, text), {}).health
    assert (health.step, health.interval) == (timedelta(seconds=step), timedelta(seconds=interval))


def test_it_reports_toml_syntax_errors(tmp_path):
    (line,) = problems(tmp_path, "[server\n")
    assert line.startswith("(toml): ")


def test_a_window_crossing_midnight_is_allowed(tmp_path):
    config = load_config_file(write(tmp_path, '[[windows]]\nstart = "22:00"\nend = "02:00"\n'), {})
    assert (config.windows[0].start, config.windows[0].end) == ("22:00", "02:00")


def test_environment_overrides_file_and_defaults(tmp_path):
    path = write(tmp_path, '[database]\nurl = "sqlite:///from-file.db"\n')
    s = load_settings(path, env={"SHIPLANE_PORT": "9000"})
    assert (s.database_url, s.port, s.host) == ("sqlite:///from-file.db", 9000, "127.0.0.1")
    s = load_settings(path, env={"SHIPLANE_DATABASE_URL": "sqlite:///env.db"})
    assert s.database_url == "sqlite:///env.db"
    assert load_settings(env={}).database_url == "sqlite:///./shiplane.db"


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("5m", 300), ("63h", 226800), ("1d", 86400), (90, 90)])
def test_it_parses_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


def test_it_rejects_bad_durations():
    with pytest.raises(ValueError, match="'5 minutes'"):
        parse_duration("5 minutes")
