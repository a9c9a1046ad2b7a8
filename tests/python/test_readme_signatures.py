"""The README's "Signed models" section, replayed as written: a training job
signs a model directory with the upstream `model_signing` CLI (the key and
the certificate methods), registers it with its bundle from Python under the
README's trust file, requires signatures for production and promotes it; a
deployer pulls it from the S3 store with `modelreg` and with Python, and the
upstream verifier accepts what `pull` wrote. The store is moto's S3 server;
the keys and the CA the README names are made per run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import RunningServer, readme_block, readme_commands, start_server, stop_server
from cryptography.hazmat.primitives.asymmetric import ec
from test_pull import s3_endpoint  # noqa: F401 (the fixture)
from test_signatures import Authority, pem_key, pem_public

from modelreg_client import RegistryClient


class Replay:
    """README blocks run in a working directory against one server, with the
    deployer's `/srv` under the test's own directory."""

    def __init__(self, server: RunningServer, srv: Path, env: dict[str, str]) -> None:
        self.server = server
        self.srv = srv
        self.env = env

    def localize(self, text: str) -> str:
        return text.replace("127.0.0.1:50051", self.server.address).replace("/srv/", f"{self.srv}/")

    def attempt(self, command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", self.localize(command)], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=120
        )

    def sh(self, command: str, cwd: Path) -> None:
        done = self.attempt(command, cwd)
        assert done.returncode == 0, f"{command}\nfailed with {done.returncode}:\n{done.stderr}\n{done.stdout}"

    def python(self, marker: str, cwd: Path) -> None:
        code = self.localize(readme_block(marker, "python"))
        done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"[{marker}]\n{done.stderr}"


def test_the_signed_models_section_runs_as_written(tmp_path: Path, s3_endpoint: str) -> None:  # noqa: F811
    import boto3  # type: ignore[import-untyped]

    # The training job's directory: the model, the key, the CA and a
    # certificate it issued, and the README's trust file beside them.
    job = tmp_path / "job"
    model = job / "models" / "churn"
    model.mkdir(parents=True)
    (model / "weights.bin").write_bytes(os.urandom(256 * 1024))
    (model / "config.json").write_text('{"trees": 300}')
    key = ec.generate_private_key(ec.SECP256R1())
    pem_key(key, job / "training.key")
    pem_public(key, job / "training.pub")
    ca = Authority.make(job / "acme-ml-ca.pem", "Acme ML CA")
    ca.issue(job / "trainer", "ml-bot@acme.example")  # trainer.pem, trainer.key
    (job / "trust.toml").write_text(readme_block("signature-trust", "toml"))

    aws = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # The job's upload, where the README's registration points.
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="models")
    for file in model.iterdir():
        s3.put_object(Bucket="models", Key=f"churn/7/{file.name}", Body=file.read_bytes())

    # The server's own directory (its database) is not the job's; the trust
    # file names its key and CA relative to itself.
    registry = tmp_path / "registry"
    registry.mkdir()
    server = start_server(registry, "--signature-trust", str(job / "trust.toml"))
    srv = tmp_path / "srv"
    env = {
        **os.environ,
        **aws,
        "MODEL_REGISTRY_URL": f"http://{server.address}",
        # model_signing and python as installed beside the test's interpreter.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    replay = Replay(server, srv, env)
    try:
        key_signing, certificate_signing = readme_commands("signed-sign")
        # The certificate method, in a copy of the job's directory.
        by_certificate = tmp_path / "job-certificate"
        shutil.copytree(job, by_certificate)
        replay.sh(certificate_signing, by_certificate)
        replay.sh(key_signing, job)

        replay.python("signed-register", job)
        with RegistryClient(server.address) as client:
            registered = client.get_model_version("churn", 1)
            assert registered.signature is not None
            assert (registered.signature.signer, registered.signature.method) == ("training-pipeline", "key")
        # The bundle the registry returned passes the upstream verifier.
        replay.sh("model_signing verify key models/churn --signature returned.sig --public_key training.pub", job)

        for command in readme_commands("signed-policy"):
            replay.sh(command, job)

        # The deployer holds the public key, and nothing of the job's.
        deployer = tmp_path / "deployer"
        deployer.mkdir()
        shutil.copy(job / "training.pub", deployer)
        replay.sh("set -euo pipefail\n" + readme_block("signed-pull"), deployer)
        weights = (model / "weights.bin").read_bytes()
        assert (srv / "models" / "churn" / "weights.bin").read_bytes() == weights
        assert (deployer / "churn" / "config.json").read_text() == '{"trees": 300}'
        assert (deployer / "churn.sig").is_file()
        replay.python("signed-pull-python", deployer)
        assert (srv / "serving" / "churn" / "weights.bin").read_bytes() == weights

        with RegistryClient(server.address) as client:
            assert client.get_production_model("churn").version == 1
            # The certificate alternative registers with the certificate's identity.
            certified = client.register_model(
                "churn", algorithm="XGBoost", artifact_uri="s3://models/churn/7/", signature_bundle=by_certificate / "churn.sig"
            )
            assert certified.signature is not None
            assert (certified.signature.signer, certified.signature.method) == ("ml-bot@acme.example", "certificate")
            unsigned = client.register_model("churn", algorithm="XGBoost", artifact_uri="s3://models/churn/7/").version
        # The README's policy keeps production on signed versions.
        refused = replay.attempt(f"modelreg promote churn {unsigned} --reason 'not signed'", job)
        assert refused.returncode != 0 and "carries no verified signature" in refused.stderr, refused.stderr

        # One byte changed in the store: the README's pull refuses it,
        # naming the file, and keeps nothing.
        changed = bytearray(weights)
        changed[len(changed) // 2] ^= 0x01
        s3.put_object(Bucket="models", Key="churn/7/weights.bin", Body=bytes(changed))
        shutil.rmtree(srv / "models" / "churn")
        first_pull = readme_commands("signed-pull")[0]
        refused = replay.attempt(first_pull, deployer)
        assert refused.returncode == 8 and "weights.bin: sha256" in refused.stderr, refused.stderr
        assert not (srv / "models" / "churn").exists()
    finally:
        stop_server(server)
