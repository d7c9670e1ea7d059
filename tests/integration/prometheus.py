"""A real Prometheus server (Debian's package, unpacked by scripts/prometheus.sh) with history
back-filled from a NAB series through `promtool tsdb create-blocks-from openmetrics`."""

from __future__ import annotations

import csv
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.integration.live import free_port

BIN = ROOT / ".cache" / "prometheus" / "usr" / "bin"


def ensure_binaries() -> Path:
    if not (BIN / "prometheus").exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "prometheus.sh")], check=True, capture_output=True)
    return BIN


def openmetrics(series_csv: Path, metric: str, labels: str) -> tuple[str, list[tuple[datetime, float]]]:
    points = []
    with series_csv.open() as fh:
        for row in csv.DictReader(fh):
            at = datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC)
            points.append((at, float(row["value"])))
    lines = [f"# TYPE {metric} gauge"]
    lines += [f"{metric}{{{labels}}} {v} {int(at.timestamp())}" for at, v in points]
    lines.append("# EOF")
    return "\n".join(lines) + "\n", points


class PrometheusServer:
    def __init__(self, workdir: Path, series_csv: Path, metric: str = "web_latency_ms",
                 labels: str = 'service="web",environment="production"') -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        text, self.points = openmetrics(series_csv, metric, labels)
        self.metric = metric
        (workdir / "series.om").write_text(text)
        (workdir / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> PrometheusServer:
        bin_dir = ensure_binaries()
        data = self.workdir / "data"
        subprocess.run(
            [str(bin_dir / "promtool"), "tsdb", "create-blocks-from", "openmetrics", str(self.workdir / "series.om"), str(data)],
            check=True, capture_output=True,
        )
        self.proc = subprocess.Popen(
            [
                str(bin_dir / "prometheus"),
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=100y",  # the NAB history is from 2014
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("prometheus did not become ready")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
