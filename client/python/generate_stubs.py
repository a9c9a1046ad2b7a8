"""Generates the protobuf and gRPC stubs (with type stubs) of the package
from the repository's proto/ directory.

Run after changing a .proto file (needs the `dev` extra):

    python client/python/generate_stubs.py

grpc_tools writes `from modelregistry.v1 import registry_pb2` into the gRPC
module; that import is rewritten to a relative one so the stubs live inside
the `model_registry` package instead of claiming a top-level `modelregistry`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parents[1] / "proto"
PROTO_FILES = ["modelregistry/v1/registry.proto"]
PACKAGE_OUT = HERE / "src" / "model_registry" / "_generated"
ABSOLUTE_IMPORTS = {
    "from modelregistry.v1 import registry_pb2 as": "from . import registry_pb2 as",
}


def generate(out_root: Path) -> list[Path]:
    """Writes the generated modules under `out_root`; returns their paths."""
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        subprocess.run(
            [
                sys.executable,
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
