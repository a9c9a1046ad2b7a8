"""Verification where the bytes are used (issue 24): `modelreg pull` and the
Python client's `pull()`/`verify()` download a version's artifact from
file://, http:// and s3:// (a local S3-compatible server, moto), check every
file against the version's signature (or a one-file artifact against its
sha256), and keep nothing when one byte differs, naming the file."""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from bs4 import BeautifulSoup
from conftest import RunningServer, free_port, start_server, stop_server
from test_signatures import Setup, model_signing, setup  # noqa: F401 (the fixture)

from modelreg_client import AsyncRegistryClient, PulledModel, RegistryClient, VerificationError
from modelreg_client._generated.modelregistry.v1 import registry_pb2 as pb
from modelreg_client._generated.modelregistry.v1 import registry_pb2_grpc as pb_grpc

MOTO_SERVER = str(Path(sys.executable).parent / "moto_server")


def modelreg(server: RunningServer, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["modelreg", "--url", f"http://{server.address}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def flip_one_byte(path: Path) -> bytes:
    """Flips a bit of one byte of `path`; returns the original bytes."""
    original = path.read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0x01
    path.write_bytes(bytes(changed))
    return original


def signature_on_page(web: str, model: str, version: int) -> tuple[dict[str, str], dict[str, str]]:
    """The console's signature fields of a version's page, and its files."""
    with urllib.request.urlopen(f"http://{web}/models/{model}/versions/{version}", timeout=10) as response:
        page = BeautifulSoup(response.read(), "html.parser")
    section = page.select_one("#signature")
    assert section is not None
    fields = {dt.get_text(): dd.get_text(" ", strip=True) for dt, dd in zip(section.select("dt"), section.select("dd"), strict=True)}
    files = {row.select("td")[0].get_text(): row.select("td")[1].get_text() for row in page.select("table.signed-files tbody tr")}
    return fields, files


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if ".pulling-" in p.name]


def test_modelreg_pull_verifies_every_file_and_keeps_nothing_that_differs(setup: Setup) -> None:  # noqa: F811
    artifacts = setup.dir / "artifacts"
    shutil.copytree(setup.model, artifacts / "churn-model")
    weights = artifacts / "churn-model" / "weights.bin"
    downloads = setup.dir / "downloads"
    downloads.mkdir()
    web = f"127.0.0.1:{free_port()}"
    server = start_server(setup.dir, "--signature-trust", str(setup.trust), "--web-listen", web)
    try:
        with RegistryClient(server.address) as client:
            signed = client.register_model(
                "churn", algorithm="XGBoost", artifact_uri=f"file://{artifacts / 'churn-model'}",
                signature_bundle=setup.sign_key(setup.model),
            ).version
            client.set_production_model("churn", signed, "signed")

            pulled = modelreg(server, "-o", "json", "pull", "churn", "--to", str(downloads / "prod"), "--bundle", str(downloads / "prod.sig"))
            assert pulled.returncode == 0, pulled.stderr
            answer = json.loads(pulled.stdout)
            assert answer["verified"] == {"by": "signature", "signer": "training-pipeline", "method": "key"}
            assert sorted(answer["files"]) == ["config.json", "weights.bin"]
            assert (downloads / "prod" / "weights.bin").read_bytes() == weights.read_bytes()
            # The upstream verifier accepts the download with the bundle pull wrote.
            model_signing(
                "verify", "key", str(downloads / "prod"), "--signature", str(downloads / "prod.sig"),
                "--public_key", str(setup.public_key),
            )
            shown = modelreg(server, "show", "churn", str(signed))
            assert "signed by training-pipeline" in shown.stdout and "verifies against the trust file now" in shown.stdout
            assert "weights.bin  sha256 " in shown.stdout, shown.stdout
            fields, files = signature_on_page(web, "churn", signed)
            assert fields["Status"].startswith("VERIFIED") and fields["Signer"] == "training-pipeline"
            assert files == answer["files"]

            # One byte flipped in the stored artifact: refused, naming the file, nothing kept.
            original = flip_one_byte(weights)
            refused = modelreg(server, "pull", f"churn:{signed}", "--to", str(downloads / "flipped"))
            assert refused.returncode == 8, refused.stderr
            assert "weights.bin: sha256" in refused.stderr and "config.json" not in refused.stderr
            assert not (downloads / "flipped").exists() and leftovers(downloads) == []
            with pytest.raises(VerificationError, match=r"weights\.bin: sha256"):
                client.pull("churn", downloads / "flipped-python")
            assert not (downloads / "flipped-python").exists() and leftovers(downloads) == []
            weights.write_bytes(original)

            # A file the signature does not cover.
            (artifacts / "churn-model" / "extra.txt").write_text("slipped in")
            refused = modelreg(server, "pull", "churn@production", "--to", str(downloads / "extra"))
            assert refused.returncode == 8 and "extra.txt: not covered by the signature" in refused.stderr
            (artifacts / "churn-model" / "extra.txt").unlink()

            # The Python client: pull, then verify what is on disk.
            result = client.pull("churn", downloads / "python", bundle_to=downloads / "python.sig")
            assert (result.verified_by, result.signer, result.version) == ("signature", "training-pipeline", signed)
            assert client.verify(downloads / "python", "churn", signed) == result.files

            async def pull_async() -> PulledModel:
                async with AsyncRegistryClient(server.address) as asynchronous:
                    pulled = await asynchronous.pull("churn", downloads / "async")
                    assert await asynchronous.verify(downloads / "async", "churn", signed) == pulled.files
                    return pulled

            assert asyncio.run(pull_async()).files == result.files
            flip_one_byte(downloads / "python" / "config.json")
            with pytest.raises(VerificationError, match=r"config\.json: sha256"):
                client.verify(downloads / "python", "churn", signed)

            # An unsigned one-file artifact: its registered sha256.
            single = artifacts / "model.pkl"
            single.write_bytes(b"a pickled model" * 100)
            plain = client.register_model("churn", algorithm="XGBoost", artifact_path=single).version
            assert modelreg(server, "pull", f"churn:{plain}", "--to", str(downloads / "plain")).returncode == 0
            assert (downloads / "plain" / "model.pkl").read_bytes() == single.read_bytes()
            flip_one_byte(single)
            refused = modelreg(server, "pull", f"churn:{plain}", "--to", str(downloads / "plain-flipped"))
            assert refused.returncode == 8 and "model.pkl: sha256" in refused.stderr
            with pytest.raises(VerificationError, match=r"model\.pkl"):
                client.pull("churn", downloads / "plain-python", version=plain)

            # Nothing to verify against: refused unless asked for.
            bare = client.register_model("churn", algorithm="XGBoost", artifact_uri=f"file://{artifacts / 'churn-model'}").version
            refused = modelreg(server, "pull", f"churn:{bare}", "--to", str(downloads / "bare"))
            assert refused.returncode == 8 and "neither a signature nor a sha256" in refused.stderr
            taken = modelreg(server, "pull", f"churn:{bare}", "--to", str(downloads / "bare"), "--allow-unverified")
            assert taken.returncode == 0 and "NOT verified" in taken.stdout
            # Not over a directory that holds something.
            busy = modelreg(server, "pull", "churn", "--to", str(downloads / "bare"))
            assert busy.returncode == 2 and "not empty" in busy.stderr

            # The signer removed from the trust file: what it signed is refused.
            setup.trust.write_text('[[signer]]\nname = "acme-ml-ca"\nca_file = "ml-ca.pem"\n')
            server.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while (refused := modelreg(server, "pull", "churn", "--to", str(downloads / "revoked"))).returncode == 0:
                assert time.monotonic() < deadline, "the removed signer still vouches"
                shutil.rmtree(downloads / "revoked")
                time.sleep(0.05)
            assert refused.returncode == 8 and "no longer verifies" in refused.stderr, refused.stderr
            with pytest.raises(VerificationError, match="no longer verifies"):
                client.pull("churn", downloads / "revoked-python")
            fields, _ = signature_on_page(web, "churn", signed)
            assert fields["Status"].startswith("NO LONGER VERIFIES") and "public key" in fields["Status"]
    finally:
        stop_server(server)


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on loopback, and its URL."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def s3_endpoint(tmp_path: Path) -> Iterator[str]:
    """A local S3-compatible server (moto), as AWS_ENDPOINT_URL."""
    port = free_port()
    log = open(tmp_path / "moto.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen([MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "moto.log").read_text()
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_pull_reads_http_and_s3_artifacts_and_refuses_a_flipped_byte(
    setup: Setup, http_root: tuple[Path, str], s3_endpoint: str, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    import boto3  # type: ignore[import-untyped]

    for name, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    served, base_url = http_root
    shutil.copytree(setup.model, served / "churn-model")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="models")
    for file in setup.model.iterdir():
        s3.put_object(Bucket="models", Key=f"churn/7/{file.name}", Body=file.read_bytes())
    downloads = setup.dir / "downloads"
    server = start_server(setup.dir, "--signature-trust", str(setup.trust))
    try:
        with RegistryClient(server.address) as client:
            bundle = setup.sign_key(setup.model)
            by_http = client.register_model(
                "churn", algorithm="XGBoost", artifact_uri=f"{base_url}/churn-model", signature_bundle=bundle
            ).version
            by_s3 = client.register_model(
                "churn", algorithm="XGBoost", artifact_uri="s3://models/churn/7/", signature_bundle=bundle
            ).version
            weights = setup.model.joinpath("weights.bin").read_bytes()
            for source, version in (("http", by_http), ("s3", by_s3)):
                pulled = modelreg(server, "pull", f"churn:{version}", "--to", str(downloads / f"{source}-cli"))
                assert pulled.returncode == 0, (source, pulled.stderr)
                assert (downloads / f"{source}-cli" / "weights.bin").read_bytes() == weights
                result = client.pull("churn", downloads / f"{source}-python", version=version)
                assert sorted(result.files) == ["config.json", "weights.bin"], source

            # One byte flipped at each source.
            flip_one_byte(served / "churn-model" / "weights.bin")
            changed = bytearray(weights)
            changed[len(changed) // 2] ^= 0x01
            s3.put_object(Bucket="models", Key="churn/7/weights.bin", Body=bytes(changed))
            for source, version in (("http", by_http), ("s3", by_s3)):
                refused = modelreg(server, "pull", f"churn:{version}", "--to", str(downloads / f"{source}-flipped"))
                assert refused.returncode == 8 and "weights.bin: sha256" in refused.stderr, (source, refused.stderr)
                assert not (downloads / f"{source}-flipped").exists()
                with pytest.raises(VerificationError, match=r"weights\.bin"):
                    client.pull("churn", downloads / f"{source}-flipped-python", version=version)
            # An object slipped in beside the signed ones (hashed on the way, like the rest).
            s3.put_object(Bucket="models", Key="churn/7/extra.bin", Body=b"slipped in")
            refused = modelreg(server, "pull", f"churn:{by_s3}", "--to", str(downloads / "s3-extra"))
            assert refused.returncode == 8 and "extra.bin: not covered by the signature" in refused.stderr, refused.stderr
            with pytest.raises(VerificationError, match=r"extra\.bin: not covered"):
                client.pull("churn", downloads / "s3-extra-python", version=by_s3)
            assert leftovers(downloads) == []
    finally:
        stop_server(server)


class HostileSource(BaseHTTPRequestHandler):
    """`/stall/…` answers a few bytes of a longer body, then nothing until
    released; `/endless/…` sends bytes until the caller hangs up (or 64 MiB)."""

    release = threading.Event()
    sent = 0

    def do_GET(self) -> None:  # noqa: N802 (the handler's API)
        if self.path.startswith("/stall/"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            HostileSource.release.wait(60)
            return
        self.send_response(200)
        self.end_headers()
        chunk = b"y" * 65536
        try:
            while HostileSource.sent < 64 << 20:
                self.wfile.write(chunk)
                HostileSource.sent += len(chunk)
        except OSError:
            pass  # the caller hung up

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the handler's API)
        pass


def test_pull_gives_up_on_a_source_that_stalls_or_holds_more_than_registered_or_allowed(tmp_path: Path, server: RunningServer) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), HostileSource)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    local = tmp_path / "local.bin"
    local.write_bytes(b"z" * 4096)
    digest = "0" * 64
    downloads = tmp_path / "downloads"
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = pb_grpc.RegistryServiceStub(channel)

            def register(uri: str, size: int) -> int:
                artifact = pb.Artifact(uri=uri, sha256=digest, size_bytes=size)
                request = pb.RegisterModelRequest(model_name="hostile", algorithm="XGBoost", artifact=artifact)
                return stub.RegisterModel(request, timeout=10).model_version.version

            stalling = register(f"{base}/stall/model.bin", 0)
            endless = register(f"{base}/endless/model.bin", 1 << 20)
            unsized = register(f"{base}/endless/unsized.bin", 0)
            oversized_file = register(local.as_uri(), 1024)

        stalled = modelreg(server, "pull", f"hostile:{stalling}", "--to", str(downloads / "stalled"), "--stall-timeout", "1")
        assert stalled.returncode != 0 and "the source sent nothing for 1 s" in stalled.stderr, stalled.stderr
        with RegistryClient(server.address) as client, ThreadPoolExecutor(1) as pool:
            pulling = pool.submit(client.pull, "hostile", downloads / "stalled-python", version=stalling, stall_timeout=1)
            try:
                # The source holds on for a minute, the default stall limit.
                error = pulling.exception(timeout=30)
            finally:
                HostileSource.release.set()
            assert isinstance(error, TimeoutError), error

        # Stopped at the registered size, not at the source's end (or the disk's).
        too_much = modelreg(server, "pull", f"hostile:{endless}", "--to", str(downloads / "endless"))
        assert too_much.returncode == 8, too_much.stderr
        assert "holds more than the 1048576 bytes registered as its size_bytes" in too_much.stderr
        with RegistryClient(server.address) as client, pytest.raises(VerificationError, match="more than the 1048576 bytes"):
            client.pull("hostile", downloads / "endless-python", version=endless)
        assert HostileSource.sent < 64 << 20, "the source was read to its end"

        # Registered without a size: the deployer's own cap stops it.
        HostileSource.sent = 0
        capped = modelreg(server, "pull", f"hostile:{unsized}", "--to", str(downloads / "unsized"), "--max-bytes", str(2 << 20))
        assert capped.returncode == 8, capped.stderr
        assert "holds more than the 2097152 bytes --max-bytes allows" in capped.stderr, capped.stderr
        with RegistryClient(server.address) as client, pytest.raises(VerificationError, match="more than the 2097152 bytes max_bytes allows"):
            client.pull("hostile", downloads / "unsized-python", version=unsized, max_bytes=2 << 20)
        assert HostileSource.sent < 64 << 20, "the source was read to its end"
        refused = modelreg(server, "pull", f"hostile:{unsized}", "--to", str(downloads / "unsized"), "--max-bytes", "0")
        assert refused.returncode == 2 and "--max-bytes" in refused.stderr, refused.stderr

        larger = modelreg(server, "pull", f"hostile:{oversized_file}", "--to", str(downloads / "file"))
        assert larger.returncode == 8 and "more than the 1024 bytes" in larger.stderr, larger.stderr
        with RegistryClient(server.address) as client, pytest.raises(VerificationError, match="more than the 1024 bytes"):
            client.pull("hostile", downloads / "file-python", version=oversized_file)

        assert not downloads.exists() or list(downloads.iterdir()) == []
    finally:
        HostileSource.release.set()
        httpd.shutdown()
        httpd.server_close()
