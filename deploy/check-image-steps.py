#!/usr/bin/env python3
"""Runs deploy/Dockerfile's build and run steps without a container engine,
so the image's recipe is exercised where none runs (a test calls this):

1. the `cargo build` command of the build stage, as written;
2. the runtime layout: the binary in usr/local/bin and an empty data
   directory owned by the image's user, under a temporary root;
3. the image's USER, WORKDIR, ENV, ENTRYPOINT and CMD, as parsed from the
   Dockerfile, except that the listen addresses move to free loopback ports
   (nothing here listens beyond loopback) and a tokens file is given (the
   image requires one, since it listens beyond loopback);
4. a gRPC health check until SERVING, the image's HEALTHCHECK command as
   written, a scrape of /metrics, and SIGTERM (the STOPSIGNAL) ending the
   process with status 0.

Usage: python deploy/check-image-steps.py   (from anywhere; needs root to
switch to the image's user, as `docker build` would)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "deploy" / "Dockerfile"
TIMEOUT = 30.0


def instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions (keyword, arguments), continuations joined."""
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def runtime_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The instructions of the last stage."""
    starts = [i for i, (keyword, _) in enumerate(steps) if keyword == "FROM"]
    return steps[starts[-1] :]


def environment(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def exec_form(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    values = [rest for k, rest in stage if k == keyword]
    assert values, f"the runtime stage has no {keyword}"
    return list(json.loads(values[-1]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_health(address: str, process: subprocess.Popen[bytes]) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

    deadline = time.monotonic() + TIMEOUT
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with {process.returncode}")
            try:
                answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise SystemExit("the server never reported SERVING")


def main() -> int:
    steps = instructions(DOCKERFILE.read_text())
    build = next(rest for keyword, rest in steps if keyword == "RUN" and "cargo build" in rest)
    cargo = re.search(r"(cargo build [^&]*)", build)
    assert cargo, "the build stage runs cargo build"
    command = cargo.group(1).split()
    print("step 1:", " ".join(command), flush=True)
    subprocess.run(command, cwd=REPO, check=True)

    stage = runtime_stage(steps)
    user = next(rest for keyword, rest in stage if keyword == "USER")
    uid, _, gid = user.partition(":")
    workdir = next(rest for keyword, rest in stage if keyword == "WORKDIR")
    entrypoint = exec_form(stage, "ENTRYPOINT")
    cmd = exec_form(stage, "CMD")
    env = environment(stage)
    exposed = {int(port) for keyword, rest in stage if keyword == "EXPOSE" for port in rest.split()}
    listens = ("MODEL_REGISTRY_LISTEN", "MODEL_REGISTRY_METRICS_LISTEN", "MODEL_REGISTRY_HEALTH_LISTEN")
    assert {int(env[name].rsplit(":", 1)[1]) for name in listens} == exposed, "EXPOSE names the ports ENV listens on"
    healthcheck = next(rest for keyword, rest in stage if keyword == "HEALTHCHECK")
    health_command = list(json.loads(healthcheck.split("CMD", 1)[1]))
    stopsignal = next(rest for keyword, rest in stage if keyword == "STOPSIGNAL")

    root = Path(tempfile.mkdtemp(prefix="image-root-"))
    try:
        root.chmod(0o755)
        binary = root / entrypoint[0].lstrip("/")
        binary.parent.mkdir(parents=True)
        shutil.copy(REPO / "target" / "release" / "model-registry-server", binary)
        binary.chmod(0o755)
        data = root / workdir.lstrip("/")
        data.mkdir(parents=True)
        os.chown(data, int(uid), int(gid))
        data.chmod(0o750)
        print(f"step 2: image root at {root}, {workdir} owned by {user}", flush=True)

        tokens = root / "tokens.toml"
        hashed = subprocess.run(
            [str(binary), "hash-token", "--principal", "probe", "--role", "reader"],
            input=secrets.token_hex(32),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        tokens.write_text(hashed)
        tokens.chmod(0o644)
        grpc_address = f"127.0.0.1:{free_port()}"
        metrics_address = f"127.0.0.1:{free_port()}"
        health_address = f"127.0.0.1:{free_port()}"
        run_env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            **env,
            "MODEL_REGISTRY_LISTEN": grpc_address,
            "MODEL_REGISTRY_METRICS_LISTEN": metrics_address,
            "MODEL_REGISTRY_HEALTH_LISTEN": health_address,
            "MODEL_REGISTRY_AUTH_TOKENS": str(tokens),
        }
        argv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", str(binary), *entrypoint[1:], *cmd]
        print("step 3:", " ".join(argv), flush=True)
        log = root / "server.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(argv, cwd=data, env=run_env, stdout=output, stderr=output)
        try:
            wait_for_health(grpc_address, process)
            health_argv = [str(root / health_command[0].lstrip("/")), *health_command[1:]]
            checked = subprocess.run(health_argv, env=run_env, capture_output=True, text=True, timeout=TIMEOUT)
            assert checked.returncode == 0, f"HEALTHCHECK {health_command} failed: {checked.stderr}"
            with urllib.request.urlopen(f"http://{metrics_address}/metrics", timeout=10) as response:
                assert b"model_registry_build_info" in response.read()
            print("step 4: health SERVING, HEALTHCHECK passes, /metrics answers", flush=True)
            process.send_signal(getattr(signal, stopsignal))
            status = process.wait(timeout=TIMEOUT)
            assert status == 0, f"{stopsignal} ended the server with {status}"
            assert (data / "model-registry.db").is_file(), "the database went to the WORKDIR"
            print(f"step 4: {stopsignal} stopped it with status 0", flush=True)
        finally:
            if process.poll() is None:
                process.kill()
            sys.stdout.write(log.read_text(errors="replace")[-2000:] if process.returncode else "")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
