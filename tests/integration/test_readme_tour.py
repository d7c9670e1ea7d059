"""The README's five-minute tour and its dashboard step, run against a live server.

The README is the test's script. Each ```sh block is a list of commands, and
the ``# ...`` lines under a command are what it prints (stdout and stderr,
as a terminal shows them). A ```json or plain ``` block that follows a ```sh
block directly, with only blank lines between, is what that block's last
command prints. A command with neither prints nothing. Every code block in
these sections must be one of those, so no example goes unchecked.

The tour starts with ``SHIPLANE_BOOTSTRAP_TOKEN=... make run``. The test does
what `make run` does (`shiplane serve` in the current directory, on the
default ./shiplane.db) with the README's token, except that the server listens
on a free port: the address ``http://127.0.0.1:8700`` in the commands is the
one thing rewritten. The commands then run, in order, in one bash process in
that directory, with ``./.venv/bin`` pointing at this interpreter's bin.

Only what must vary is normalised, on both sides, to named placeholders:

- ``<TIME>``: ISO 8601 UTC instants such as ``2026-11-26T07:07:28.415002Z``;
- ``<TOKEN>``: API tokens, ``shp_`` and 43 URL-safe characters;
- ``...`` in an expected line stands for any text (the README shortens a long
  line that way).

Ids are not normalised: a fresh database gives the same ids every time. After
each command the test waits until the background worker has no gate due,
as a person typing the next command would, so the audit log's order does not
depend on how busy the machine is.

SQLite only, on purpose: the tour is `make run`, and it relies on
`token create` writing to ./shiplane.db beside the server.
"""

from __future__ import annotations

import difflib
import os
import re
import select
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.integration.live import BIN, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTIONS = ("A five-minute tour", "The dashboard")
README_URL = "http://127.0.0.1:8700"
START = re.compile(r"^SHIPLANE_BOOTSTRAP_TOKEN=(\S+) make run$")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.M | re.S)
OUTPUT_LANGS = ("json", "")
MARKER = "@@readme-tour-step-done@@"
PLACEHOLDERS = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z"), "<TIME>"),
    (re.compile(r"shp_[A-Za-z0-9_-]{43}"), "<TOKEN>"),
)
STEP_TIMEOUT = 60.0


@dataclass
class Step:
    command: str
    line: int  # where the command starts in README.md
    expected: list[str] = field(default_factory=list)


def _section(text: str, title: str) -> tuple[str, int]:
    start = text.index(f"\n## {title}\n") + 1
    end = text.find("\n## ", start)
    return text[start : end if end != -1 else len(text)], text[:start].count("\n") + 1


def _sh_steps(code: str, first_line: int) -> list[Step]:
    steps: list[Step] = []
    continued = False
    for offset, line in enumerate(code.splitlines()):
        if line.startswith("#"):
            assert steps and not continued, f"README.md:{first_line + offset}: output line before any command"
            steps[-1].expected.append(line[2:] if line.startswith("# ") else line[1:])
        elif continued:
            steps[-1].command += "\n" + line
        elif line.strip():
            steps.append(Step(line, first_line + offset))
        continued = line.endswith("\\")
    return steps


def tour() -> tuple[str, list[Step]]:
    """The bootstrap token the tour starts the server with, and every step after that."""
    text = README.read_text()
    token: str | None = None
    steps: list[Step] = []
    for title in SECTIONS:
        body, first = _section(text, title)
        previous_end = None  # end of the previous ```sh block, if the last block was one
        for m in FENCE.finditer(body):
            lang, code = m.group(1), m.group(2)
            line = first + body[: m.start()].count("\n")
            if lang == "sh":
                if token is None:
                    start = START.match(code.strip())
                    assert start, f"README.md:{line}: the tour must start with 'SHIPLANE_BOOTSTRAP_TOKEN=... make run'"
                    token = start.group(1)
                else:
                    steps.extend(_sh_steps(code, line + 1))
                previous_end = m.end()
                continue
            follows = previous_end is not None and not body[previous_end : m.start()].strip()
            assert lang in OUTPUT_LANGS and follows and steps, (
                f"README.md:{line}: a ```{lang} block in '{title}' that is not the output of the ```sh block "
                "right above it; the tour test cannot check it (make it a command with its output)"
            )
            assert not steps[-1].expected, f"README.md:{line}: this command already has '# ' output lines"
            steps[-1].expected = code.splitlines()
            previous_end = None
    assert token, "README.md: no tour found"
    return token, steps


def normalise(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        for pattern, placeholder in PLACEHOLDERS:
            line = pattern.sub(placeholder, line)
        out.append(line)
    return out


def matches(expected: list[str], actual: list[str]) -> bool:
    if len(expected) != len(actual):
        return False
    for want, got in zip(expected, actual):
        pattern = ".*".join(re.escape(part) for part in want.split("..."))
        if not re.fullmatch(pattern, got):
            return False
    return True


class Shell:
    """One bash process, fed one command at a time, like a terminal."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def run(self, command: str) -> list[str]:
        assert self.proc.stdin and self.proc.stdout
        # stdin is the script: commands must not read it. stderr joins stdout, as on a terminal.
        self.proc.stdin.write(f"{{ {command}\n}} </dev/null\nprintf '\\n{MARKER}\\n'\n".encode())
        self.proc.stdin.flush()
        buffer = b""
        end = f"\n{MARKER}\n".encode()
        deadline = time.monotonic() + STEP_TIMEOUT
        while not buffer.endswith(end):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(remaining, 0))
            if not ready:
                raise AssertionError(f"no end of output after {STEP_TIMEOUT:g}s; so far: {buffer.decode()!r}")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"bash exited; output so far: {buffer.decode()!r}")
            buffer += chunk
        return buffer[: -len(end)].decode().splitlines()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.close()
        self.proc.stdout.close()


def settle(database: Path, timeout: float = 10.0) -> None:
    """Wait until the worker has looked at every gate that a command marked due."""
    deadline = time.monotonic() + timeout
    while True:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
            due = conn.execute("SELECT count(*) FROM gate_watch WHERE next_check_at <= ?", (now,)).fetchone()[0]
        if not due:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the worker left {due} gate(s) due for {timeout:g}s")
        time.sleep(0.02)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLANE_")}
    # A terminal shows stdout line by line; a pipe would hold Python's stdout back
    # and reorder it after stderr.
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_make_run_starts_shiplane_serve():
    """The test stands in for `make run`; make sure that is what `make run` does."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe and "$(BIN)/shiplane serve" in recipe.group(1)


def test_the_readme_tour_prints_what_the_readme_says(tmp_path):
    token, steps = tour()
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(BIN)
    url = f"http://127.0.0.1:{free_port()}"
    env = _clean_env()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "shiplane"), "serve"],
        cwd=tmp_path,
        env=env | {"SHIPLANE_BOOTSTRAP_TOKEN": token, "SHIPLANE_PORT": url.rsplit(":", 1)[1]},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    shell = Shell(tmp_path, env)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start in 30 s"
            time.sleep(0.05)
        settle(tmp_path / "shiplane.db")
        failures = []
        for step in steps:
            actual = normalise(shell.run(step.command.replace(README_URL, url)))
            expected = normalise(step.expected)
            if not matches(expected, actual):
                diff = "\n".join(difflib.unified_diff(expected, actual, "README.md", "actual", lineterm=""))
                failures.append(f"README.md:{step.line}: the output no longer holds for\n{step.command}\n{diff}")
            settle(tmp_path / "shiplane.db")
        # Later steps still run after a mismatch: one run shows every place the README is wrong.
        assert not failures, (
            "\n\n".join(failures)
            + "\n\nFix the code or README.md (placeholders: <TIME>, <TOKEN>, and '...' for any text)."
        )
    finally:
        shell.close()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        log.close()
