"""deploy/ cannot drift from the binary: every YAML file parses, and every
environment variable, subcommand, port, probe and image the compose file
and the manifests use exists in the server's --help, its Dockerfile or its
health service; a server started as the pod starts it (tokens file, TLS on
the gRPC port) answers the manifests' probes as they are written. (The
Dockerfile's steps run without a container engine in scripts/test's own
step: deploy/check-image-steps.py.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, free_port, hashed_token_entry, server_binary, wait_until_listening

DEPLOY = REPO / "deploy"
READINESS_SERVICES = {"", "modelregistry.v1.RegistryService"}
LIVENESS_SERVICE = "liveness"


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
        "healthcheck": re.search(r"^HEALTHCHECK .*CMD (\[.*\])$", runtime, re.M),
    }


def release_version() -> str:
    return str(tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["version"])


def the_deployment() -> dict[str, Any]:
    return next(d for _, d in documents() if d.get("kind") == "Deployment")


def containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec", {})
    template = spec.get("template", spec.get("jobTemplate", {}).get("spec", {}).get("template", {}))
    found = list(template.get("spec", {}).get("containers", []))
    return found


def test_every_yaml_file_parses_and_the_expected_files_exist() -> None:
    kinds = {(path.name, document.get("kind")) for path, document in documents() if "kind" in document}
    assert {k for _, k in kinds} >= {"Deployment", "Service", "Job", "PodDisruptionBudget", "Kustomization"}
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in (DEPLOY / "kubernetes").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present, "the kustomization lists every manifest, and only those"
    assert "Secret" not in {k for _, k in kinds}, "no placeholder Secret can be applied over the real one"
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
    port_of = lambda variable: int(image["env"][variable].rsplit(":", 1)[1])  # noqa: E731
    listen_port = port_of("MODEL_REGISTRY_LISTEN")
    metrics_port = port_of("MODEL_REGISTRY_METRICS_LISTEN")
    health_port = port_of("MODEL_REGISTRY_HEALTH_LISTEN")
    assert image["expose"] == {listen_port, metrics_port, health_port}
    assert image["entrypoint"] and image["entrypoint"].group(1).endswith("/model-registry-server")
    assert image["healthcheck"], "the image has a HEALTHCHECK"
    assert yaml.safe_load(image["healthcheck"].group(1)) == [image["entrypoint"].group(1), "probe"]

    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    image_names = {entry["name"] for entry in kustomization["images"]}
    deployment = the_deployment()
    (server,) = containers(deployment)
    assert server["image"] in image_names
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert ports == {"grpc": listen_port, "metrics": metrics_port, "health": health_port, "web": 8080}
    assert env["MODEL_REGISTRY_LISTEN"].endswith(f":{listen_port}")
    assert env["MODEL_REGISTRY_METRICS_LISTEN"].endswith(f":{metrics_port}")
    assert env["MODEL_REGISTRY_HEALTH_LISTEN"].endswith(f":{health_port}")
    assert env["MODEL_REGISTRY_WEB_LISTEN"].endswith(":8080")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == metrics_port
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    drain = int(env["MODEL_REGISTRY_SHUTDOWN_GRACE"].rstrip("s"))
    pre_stop = server["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert grace > drain + pre_stop, "the drain ends before Kubernetes kills the pod"
    job = next(d for _, d in documents() if d.get("kind") == "Job")
    assert containers(job)[0]["image"] in image_names

    service = next(d for _, d in documents() if d.get("kind") == "Service")
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports) - {"health"}
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()

    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for name in ("registry-1", "registry-2"):
        published = {int(p.rsplit(":", 1)[1]) for p in compose["services"][name]["ports"]}
        assert published == {listen_port, metrics_port, 8080}, "gRPC, metrics and the console"
        assert compose["services"][name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert compose["services"]["migrate"]["image"] == compose["x-registry"]["image"]
    assert "healthcheck" in compose["services"]["postgres"]


def test_probes_split_liveness_from_readiness_on_a_port_that_needs_no_tls() -> None:
    (server,) = containers(the_deployment())
    env = {e["name"]: e.get("value") for e in server["env"]}
    health_port = int(env["MODEL_REGISTRY_HEALTH_LISTEN"].rsplit(":", 1)[1])
    liveness, readiness = server["livenessProbe"]["grpc"], server["readinessProbe"]["grpc"]
    assert liveness["port"] == readiness["port"] == health_port, "probes use the plaintext health port"
    assert liveness["service"] == LIVENESS_SERVICE, "liveness never depends on the database"
    assert readiness.get("service", "") in READINESS_SERVICES
    assert "startupProbe" not in server, "liveness answers from the first moment: no start-up probe needed"
    # A pod started during a PostgreSQL outage waits alive instead of crash-looping.
    assert env["MODEL_REGISTRY_NO_MIGRATE"] == "true" and env["MODEL_REGISTRY_DATABASE_WAIT"].endswith("h")


def test_the_image_tag_is_pinned_to_the_release_everywhere() -> None:
    version = release_version()
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    assert {entry["newTag"] for entry in kustomization["images"]} == {version}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    tags = {service["image"] for service in [*compose["services"].values(), compose["x-registry"]] if "model-registry" in service.get("image", "")}
    assert tags == {f"model-registry:{version}"}
    readme = (DEPLOY / "README.md").read_text()
    dockerfile_text = (DEPLOY / "Dockerfile").read_text()
    assert f"-t model-registry:{version}" in readme and f"-t model-registry:{version}" in dockerfile_text
    assert ":latest" not in readme + dockerfile_text + (DEPLOY / "compose.yaml").read_text()


def test_the_disruption_budget_allows_drains_at_any_replica_count() -> None:
    budget = next(d for _, d in documents() if d.get("kind") == "PodDisruptionBudget")
    assert "minAvailable" not in budget["spec"], "minAvailable blocks drains once replicas <= it"
    assert budget["spec"]["maxUnavailable"] == 1


def test_the_documented_secret_command_creates_the_secret_and_kubernetes_version_is_stated() -> None:
    readme = (DEPLOY / "README.md").read_text()
    kubernetes = readme.split("## Kubernetes", 1)[1].split("\n## ", 1)[0]
    command = re.search(r"kubectl -n model-registry create secret generic model-registry.*?(?=\n[^ ])", kubernetes, re.S)
    assert command, "the README creates the Secret"
    assert "--dry-run" not in command.group(0), "a dry run prints YAML and creates nothing"
    assert "deploy/secrets/tokens.toml" in command.group(0)
    assert kubernetes.index("namespace.yaml") < kubernetes.index("create secret"), "the namespace exists first"
    for text in (kubernetes, (DEPLOY / "kubernetes" / "deployment.yaml").read_text(), (DEPLOY / "kubernetes" / "kustomization.yaml").read_text()):
        assert "1.30" in text, "the minimum Kubernetes version is stated"


def test_compose_builds_once_mounts_tokens_readably_and_passes_the_commit() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["migrate"], "one service builds the image"
    assert services["migrate"]["build"]["args"]["GIT_SHA"] == "${GIT_SHA:-unknown}"
    registry = compose["x-registry"]
    assert "build" not in registry and registry["pull_policy"] == "never"
    assert "secrets" not in registry, "compose's file secrets keep the host's mode and inode"
    (mount,) = registry["volumes"]
    source, target, mode = mount.split(":")
    tokens = registry["environment"]["MODEL_REGISTRY_AUTH_TOKENS"]
    assert mode == "ro" and tokens == f"{target}/tokens.toml", "a directory mount: a replaced file is seen"
    assert source == "./secrets"
    for ignore in (".gitignore", ".dockerignore"):
        assert "deploy/secrets/" in (REPO / ignore).read_text(), f"{ignore} keeps the tokens out"
    readme = (DEPLOY / "README.md").read_text()
    assert "chmod 0644 deploy/secrets/tokens.toml" in readme, "readable by the image's uid 65532"
    assert registry["environment"]["MODEL_REGISTRY_WEB_LISTEN"].endswith(":8080")


def test_a_server_started_as_the_pod_answers_the_manifests_probes_with_tls_on(tmp_path: Path) -> None:
    """The pod's own environment (ports moved to free loopback ports, the
    Secret's files written locally, TLS on the gRPC port as the README
    recommends), probed as the manifests say, by the image's own probe."""
    subprocess.run([str(REPO / "scripts/dev-certs"), str(tmp_path / "certs")], check=True, capture_output=True)
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(hashed_token_entry("ops", "admin", "t0ken"))
    (server,) = containers(the_deployment())
    env = {e["name"]: e["value"] for e in server["env"] if "value" in e}
    ports = {p["containerPort"]: free_port() for p in server["ports"]}
    moved = {name: re.sub(r"^0\.0\.0\.0:(\d+)$", lambda m: f"127.0.0.1:{ports[int(m.group(1))]}", value) for name, value in env.items()}
    moved |= {
        "MODEL_REGISTRY_DATABASE_URL": f"sqlite://{tmp_path / 'registry.db'}",
        "MODEL_REGISTRY_AUTH_TOKENS": str(tokens),
        "MODEL_REGISTRY_TLS_CERT": str(tmp_path / "certs/server.pem"),
        "MODEL_REGISTRY_TLS_KEY": str(tmp_path / "certs/server.key"),
        "MODEL_REGISTRY_NO_MIGRATE": "",
        "MODEL_REGISTRY_LOG_FORMAT": "text",
    }
    moved = {k: v for k, v in moved.items() if v}
    process = subprocess.Popen(
        [server_binary(), *server["args"]],
        cwd=tmp_path,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MODEL_REGISTRY_")}, **moved, "RUST_LOG": "warn"},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.log", "wb"),  # noqa: SIM115 - closed with the process
    )
    try:
        probes = {"livenessProbe": server["livenessProbe"]["grpc"], "readinessProbe": server["readinessProbe"]["grpc"]}
        for grpc_probe in probes.values():
            address = f"127.0.0.1:{ports[grpc_probe['port']]}"
            wait_until_listening(address, process)
            argv = [server_binary(), "probe", "--address", address, "--service", grpc_probe.get("service", "")]
            deadline = time.monotonic() + 30
            while (checked := subprocess.run(argv, capture_output=True, text=True, timeout=30)).returncode != 0:
                assert time.monotonic() < deadline, f"{argv}: {checked.stderr}"
                time.sleep(0.1)
        # The gRPC port itself speaks only TLS: a plaintext probe there would fail.
        tls_port = f"127.0.0.1:{ports[int(env['MODEL_REGISTRY_LISTEN'].rsplit(':', 1)[1])]}"
        refused = subprocess.run([server_binary(), "probe", "--address", tls_port, "--timeout", "3s"], capture_output=True, text=True, timeout=30)
        assert refused.returncode == 1 and "--health-listen" in refused.stderr, refused.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, (tmp_path / "server.log").read_text()
