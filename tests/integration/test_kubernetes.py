"""deploy/kubernetes: rendered with `kubectl kustomize`, every object validated against the
schemas of a pinned Kubernetes version (the kubernetes-validate package, strict: no unknown
fields), and wired the way docs/operations.md says.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from shiplane.settings import load_settings
from tests.conftest import ROOT

KUBERNETES = "1.32.0"
DEPLOY = ROOT / "deploy" / "kubernetes"


def render(path: Path) -> list[dict]:
    if shutil.which("kubectl") is None:
        subprocess.run(["bash", str(ROOT / "scripts" / "container-tools.sh")], check=True, timeout=900)
    done = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(objects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def pod_specs(objects: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objects if o["kind"] in ("Deployment", "Job")}


@pytest.mark.parametrize("path", [DEPLOY / "base", DEPLOY / "overlays" / "example"], ids=["base", "overlay"])
def test_every_object_is_valid_for_the_pinned_kubernetes(path):
    objects = render(path)
    assert len(objects) >= 5
    for obj in objects:
        # Raises ValidationError naming the field; strict refuses misspelt or unknown keys.
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_the_base_runs_two_replicas_a_worker_and_the_upgrade_job_on_one_config_and_secret(tmp_path):
    objects = by_kind(render(DEPLOY / "base"))
    serve = objects[("Deployment", "shiplane-serve")]
    worker = objects[("Deployment", "shiplane-worker")]
    service = objects[("Service", "shiplane")]
    (config,) = [o for (kind, _), o in objects.items() if kind == "ConfigMap"]

    assert serve["spec"]["replicas"] == 2
    commands = {name: spec["containers"][0]["args"] for name, spec in pod_specs(list(objects.values())).items()}
    assert commands == {
        "shiplane-serve": ["serve", "--no-worker"],
        "shiplane-worker": ["worker"],
        "shiplane-db-upgrade": ["db", "upgrade"],
    }

    # The Service reaches the serve pods and only them.
    selector = service["spec"]["selector"].items()
    assert selector <= serve["spec"]["template"]["metadata"]["labels"].items()
    assert not selector <= worker["spec"]["template"]["metadata"]["labels"].items()
    (container,) = serve["spec"]["template"]["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8700}
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}

    for name, spec in pod_specs(list(objects.values())).items():
        (c,) = spec["containers"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert {"name": "SHIPLANE_CONFIG", "value": "/etc/shiplane/shiplane.toml"} in c["env"], name
        assert c["envFrom"] == [{"secretRef": {"name": "shiplane-secrets"}}], name
        volumes = {v["name"]: v for v in spec["volumes"]}
        mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/shiplane")
        # The generated ConfigMap's hashed name is the one every pod mounts.
        assert volumes[mount["name"]]["configMap"]["name"] == config["metadata"]["name"], name

    # The config file in the ConfigMap is one that Shiplane accepts.
    toml = tmp_path / "shiplane.toml"
    toml.write_text(config["data"]["shiplane.toml"])
    assert load_settings(toml, env={}).config.server.auto_create is True


def test_the_overlay_sets_namespace_image_config_and_replicas(tmp_path):
    objects = render(DEPLOY / "overlays" / "example")
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    assert {o["metadata"].get("namespace") for o in namespaced} == {"shiplane"}
    images = {c["image"] for spec in pod_specs(objects).values() for c in spec["containers"]}
    assert images == {"registry.example.com/platform/shiplane:0.1.0"}
    assert by_kind(objects)[("Deployment", "shiplane-serve")]["spec"]["replicas"] == 3

    # The upgrade-first step of docs/operations.md applies what this selector picks: the
    # config and the Job, and nothing that serves.
    first = "app.kubernetes.io/component in (config, db-upgrade)"
    picked = [o for o in objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") in ("config", "db-upgrade")]
    assert first in (ROOT / "docs" / "operations.md").read_text()
    assert sorted(o["kind"] for o in picked) == ["ConfigMap", "Job"]

    (config,) = [o for o in objects if o["kind"] == "ConfigMap"]
    toml = tmp_path / "shiplane.toml"
    toml.write_text(config["data"]["shiplane.toml"])
    settings = load_settings(toml, env={"GITHUB_TOKEN": "from-the-secret"})
    assert [e.slug for e in settings.config.environments] == ["production"]
    assert settings.config.forges.github.token.get_secret_value() == "from-the-secret"
