"""deploy/ cannot drift from the binary: every YAML file parses, and every
environment variable, subcommand, port, probe and image the compose file
and the manifests use exists in the server's --help, its Dockerfile or its
health service. The Dockerfile's steps run without a container engine."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, server_binary

DEPLOY = REPO / "deploy"
HEALTH_SERVICES = {"", "modelregistry.v1.RegistryService"}


def documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(DEPLOY.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            assert isinstance(document, dict), f"{path} holds a mapping"
            yield path, document


def server_help() -> tuple[set[str], set[str]]:
    """The environment variables and subcommands the server knows."""
    text = subprocess.run([server_binary(), "--help"], capture_output=True, text=True, check=True, timeout=60).stdout
    variables = set(re.findall(r"\[env: (MODEL_REGISTRY_\w+)[=\]]", text))
    commands = set(re.findall(r"^  ([a-z][a-z-]+)\s{2,}", text.split("Commands:", 1)[1].split("Options:", 1)[0], re.M))
    return variables, commands


def dockerfile() -> dict[str, Any]:
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    runtime = text.rsplit("\nFROM ", 1)[1]
    return {
        "expose": {int(p) for line in re.findall(r"^EXPOSE (.+)$", runtime, re.M) for p in line.split()},
        "env": dict(re.findall(r"(MODEL_REGISTRY_\w+)=(\S+)", runtime)),
        "entrypoint": re.search(r'^ENTRYPOINT \["([^"]+)"', runtime, re.M),
    }


def containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec", {})
    template = spec.get("template", spec.get("jobTemplate", {}).get("spec", {}).get("template", {}))
    found = list(template.get("spec", {}).get("containers", []))
    return found


def test_every_yaml_file_parses_and_the_expected_files_exist() -> None:
    kinds = {(path.name, document.get("kind")) for path, document in documents() if "kind" in document}
    assert {k for _, k in kinds} >= {"Deployment", "Service", "Secret", "Job", "PodDisruptionBudget", "Kustomization"}
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in (DEPLOY / "kubernetes").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present, "the kustomization lists every manifest, and only those"
    for name in ["Dockerfile", "compose.yaml", "README.md", "check-image-steps.py"]:
        assert (DEPLOY / name).is_file(), name
    assert (REPO / ".dockerignore").is_file()


def test_environment_variables_and_subcommands_exist_in_the_server() -> None:
    variables, commands = server_help()
    assert {"serve", "migrate", "backup", "hash-token"} <= commands
    used_variables: set[str] = set(dockerfile()["env"])
    used_commands: set[str] = set()
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for service in [*compose["services"].values(), compose["x-registry"]]:
        used_variables |= {k for k in service.get("environment", {}) if k.startswith("MODEL_REGISTRY_")}
        used_commands |= {c for c in service.get("command", []) if not c.startswith("-")}
    for _, document in documents():
        for container in containers(document):
            used_variables |= {e["name"] for e in container.get("env", []) if e["name"].startswith("MODEL_REGISTRY_")}
            used_commands |= {a for a in container.get("args", []) if not a.startswith("-")}
    assert used_variables, "the deployment files configure the server"
    assert used_variables <= variables, f"unknown to the server: {used_variables - variables}"
    assert used_commands <= commands, f"unknown subcommands: {used_commands - commands}"


def test_ports_probes_and_images_agree() -> None:
    image = dockerfile()
    listen_port = int(image["env"]["MODEL_REGISTRY_LISTEN"].rsplit(":", 1)[1])
    metrics_port = int(image["env"]["MODEL_REGISTRY_METRICS_LISTEN"].rsplit(":", 1)[1])
    assert image["expose"] == {listen_port, metrics_port}
    assert image["entrypoint"] and image["entrypoint"].group(1).endswith("/model-registry-server")

    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    image_names = {entry["name"] for entry in kustomization["images"]}
    deployment = next(d for _, d in documents() if d.get("kind") == "Deployment")
    (server,) = containers(deployment)
    assert server["image"] in image_names
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert ports == {"grpc": listen_port, "metrics": metrics_port}
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["MODEL_REGISTRY_LISTEN"].endswith(f":{listen_port}")
    assert env["MODEL_REGISTRY_METRICS_LISTEN"].endswith(f":{metrics_port}")
    for probe in ("readinessProbe", "livenessProbe"):
        grpc_probe = server[probe]["grpc"]
        assert grpc_probe["port"] == listen_port
        assert grpc_probe.get("service", "") in HEALTH_SERVICES
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == metrics_port
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    drain = int(env["MODEL_REGISTRY_SHUTDOWN_GRACE"].rstrip("s"))
    pre_stop = server["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert grace > drain + pre_stop, "the drain ends before Kubernetes kills the pod"
    job = next(d for _, d in documents() if d.get("kind") == "Job")
    assert containers(job)[0]["image"] in image_names

    service = next(d for _, d in documents() if d.get("kind") == "Service")
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    budget = next(d for _, d in documents() if d.get("kind") == "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]

    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for name in ("registry-1", "registry-2"):
        published = {int(p.rsplit(":", 1)[1]) for p in compose["services"][name]["ports"]}
        assert published == {listen_port, metrics_port}
        assert compose["services"][name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert compose["services"]["migrate"]["image"] == compose["x-registry"]["image"]
    assert "healthcheck" in compose["services"]["postgres"]


def test_the_dockerfile_steps_run_without_a_container() -> None:
    if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0":
        pytest.skip("SKIPPING IMAGE STEPS: switching to the image's user needs root")
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "check-image-steps.py")], capture_output=True, text=True, timeout=1800
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "SIGTERM stopped it with status 0" in result.stdout
