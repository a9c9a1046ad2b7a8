"""Generates the protobuf and gRPC stubs (with type stubs) of the package
from the repository's proto/ directory.

Run after changing a .proto file:

    python client/python/generate_stubs.py

The generator is pinned and old on purpose: grpcio-tools 1.62.3 (protoc 25.1,
protobuf 4.25 gencode). Gencode from protobuf 5.26 on calls
`ValidateProtobufRuntimeVersion`, which refuses any runtime of another major
version, and gRPC stubs from grpcio-tools 1.63 on refuse an older grpcio.
This gencode has neither check and uses only the `builder` API every runtime
from 4.25.1 to 7.x provides, so the package installs beside protobuf 4.25.1
up to 7.x and grpcio 1.68.1 up (tests run the oldest and newest pins). The
generator lives in its own virtual environment (created on first use, under
the repository's `.venv-stubgen`), since its protobuf 4.x cannot share a
venv with a newer runtime.

grpc_tools writes `from modelregistry.v1 import registry_pb2` into the gRPC
module; that import is rewritten to a relative one so the stubs live inside
the `modelreg_client` package instead of claiming a top-level `modelregistry`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parents[1] / "proto"
GENERATOR_VENV = HERE.parents[1] / ".venv-stubgen"
GENERATOR = ["grpcio-tools==1.62.3", "protobuf==4.25.9", "mypy-protobuf==3.6.0"]
PROTO_FILES = ["modelregistry/v1/registry.proto"]
PACKAGE_OUT = HERE / "src" / "modelreg_client" / "_generated"
ABSOLUTE_IMPORTS = {
    "from modelregistry.v1 import registry_pb2 as": "from . import registry_pb2 as",
    "import modelregistry.v1.registry_pb2\n": "from . import registry_pb2\n",
    "modelregistry.v1.registry_pb2.": "registry_pb2.",
}


def generator_python() -> Path:
    """The interpreter of the pinned generator's venv, created when missing."""
    python = GENERATOR_VENV / "bin" / "python"
    marker = GENERATOR_VENV / "pins.txt"
    wanted = "\n".join(GENERATOR)
    if not python.is_file() or not marker.is_file() or marker.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(GENERATOR_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *GENERATOR],
            check=True,
        )
        marker.write_text(wanted)
    return python


def generate(out_root: Path) -> list[Path]:
    """Writes the generated modules under `out_root`; returns their paths."""
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        python = generator_python()
        env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        subprocess.run(
            [
                str(python),
                "-m",
                "grpc_tools.protoc",
                f"-I{PROTO_ROOT}",
                f"--python_out={tmp}",
                f"--grpc_python_out={tmp}",
                f"--mypy_out={tmp}",
                f"--mypy_grpc_out={tmp}",
                *PROTO_FILES,
            ],
            check=True,
            cwd=PROTO_ROOT,
            env=env,
            capture_output=True,
        )
        for source in sorted(Path(tmp).rglob("*.py*")):
            text = source.read_text()
            for absolute, relative in ABSOLUTE_IMPORTS.items():
                text = text.replace(absolute, relative)
            target = out_root / source.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            written.append(target)
    for package in [out_root, out_root / "modelregistry", out_root / "modelregistry" / "v1"]:
        init = package / "__init__.py"
        init.write_text('"""Generated from proto/; do not edit (see generate_stubs.py)."""\n')
        written.append(init)
    return written


if __name__ == "__main__":
    for path in generate(PACKAGE_OUT):
        print(path.relative_to(HERE))
