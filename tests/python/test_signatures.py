"""Signed models (issue 24): models signed with the OpenSSF `model-signing`
package (its CLI, as a training job runs it), keys and a small CA made per
run. The server verifies a bundle against its trust file before a version
keeps it; the bundle it returns passes the upstream verifier; every way a
signature can be wrong is refused, saying which."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from bs4 import BeautifulSoup
from conftest import free_port, readme_block, start_server, stop_server
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from modelreg_client import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, RegistryClient
from modelreg_client._generated.modelregistry.v1 import registry_pb2 as pb
from modelreg_client._generated.modelregistry.v1 import registry_pb2_grpc as pb_grpc

MODEL_SIGNING = str(Path(sys.executable).parent / "model_signing")
NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def model_signing(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs the upstream CLI; fails the test with its output if it fails."""
    result = subprocess.run([MODEL_SIGNING, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"model_signing {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def pem_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


def pem_public(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def usage(digital_signature: bool = False, key_cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=key_cert_sign, encipher_only=False, decipher_only=False,
    )


@dataclass
class Authority:
    """A small CA that issues code-signing certificates."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    pem: Path

    @classmethod
    def make(cls, path: Path, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage(key_cert_sign=True), critical=True)
            .sign(key, hashes.SHA256())
        )
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(key, certificate, path)

    def issue(
        self, path: Path, email: str, *, expired: bool = False, purpose: x509.ObjectIdentifier = ExtendedKeyUsageOID.CODE_SIGNING,
        digital_signature: bool = True,
    ) -> tuple[Path, Path]:
        """A leaf certificate and its key: (certificate PEM, key PEM)."""
        key = ec.generate_private_key(ec.SECP256R1())
        # Upstream checks the chain at the leaf's start, which must fall in the CA's.
        hour = datetime.timedelta(hours=1)
        not_after = NOW - hour if expired else NOW + 7 * DAY
        certificate = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "training")]))
            .issuer_name(self.certificate.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - 2 * hour).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=digital_signature), critical=True)
            .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        certificate_path = path.with_suffix(".pem")
        certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return certificate_path, pem_key(key, path.with_suffix(".key"))


@dataclass
class Setup:
    """Keys, a CA, the trust file and a model directory of two files."""

    dir: Path
    key: Path
    public_key: Path
    ca: Authority
    trust: Path
    model: Path

    def one_file_models(self) -> tuple[Path, Path]:
        """Two one-file models (directories `single` and `other`, each holding a
        different `model.pkl`)."""
        made = []
        for name, content in (("single", b"the registered model"), ("other", b"another model")):
            directory = self.dir / name
            directory.mkdir()
            (directory / "model.pkl").write_bytes(content)
            made.append(directory)
        return made[0], made[1]

    def sign_key(self, model: Path, key: Path | None = None) -> Path:
        signature = self.dir / f"{model.name}-{(key or self.key).stem}.sig"
        model_signing("sign", "key", str(model), "--private_key", str(key or self.key), "--signature", str(signature))
        return signature

    def sign_certificate(self, model: Path, certificate: Path, key: Path, chain: Path) -> Path:
        signature = self.dir / f"{model.name}-{certificate.stem}.sig"
        model_signing(
            "sign", "certificate", str(model), "--private_key", str(key), "--signing_certificate", str(certificate),
            "--certificate_chain", str(chain), "--signature", str(signature),
        )
        return signature


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    key = pem_key(ec.generate_private_key(ec.SECP256R1()), tmp_path / "training.key")
    public_key = tmp_path / "training.pub"
    public_key.write_bytes(
        serialization.load_pem_private_key(key.read_bytes(), None).public_key().public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    ca = Authority.make(tmp_path / "ml-ca.pem", "Acme ML CA")
    trust = tmp_path / "signature-trust.toml"
    trust.write_text(
        '[[signer]]\nname = "training-pipeline"\npublic_key_file = "training.pub"\nmodel_prefixes = ["churn"]\n\n'
        '[[signer]]\nname = "acme-ml-ca"\nca_file = "ml-ca.pem"\nidentities = ["*@acme.example"]\nmodel_prefixes = ["churn"]\n'
    )
    model = tmp_path / "churn-model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x00\x01 weights " * 1000)
    (model / "config.json").write_text('{"trees": 300}')
    return Setup(tmp_path, key, public_key, ca, trust, model)


def register(client: RegistryClient, name: str, uri: str | None = None, *, path: Path | None = None) -> int:
    """A new version whose artifact is at `uri`, or the local file `path`
    (recorded with its sha256)."""
    return client.register_model(name, algorithm="XGBoost", artifact_uri=uri, artifact_path=path, metrics={"auc": 0.9}).version


def refusal(client: RegistryClient, name: str, version: int, bundle: Path | str) -> str:
    """The message of the field violation on `bundle` the attach gets."""
    with pytest.raises(InvalidArgument) as refused:
        client.attach_signature(name, version, bundle if isinstance(bundle, str) else Path(bundle))
    assert [v.field for v in refused.value.field_violations] == ["bundle"], refused.value
    return refused.value.field_violations[0].description


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "postgres":
        return ["--database-url", request.getfixturevalue("postgres_url")]
    return []


def test_key_and_certificate_signatures_are_verified_kept_and_pass_the_upstream_verifier(
    setup: Setup, backend: list[str]
) -> None:
    server = start_server(setup.dir, "--signature-trust", str(setup.trust), *backend)
    try:
        with RegistryClient(server.address) as client:
            v1 = register(client, "churn", f"file://{setup.model}")
            bundle = setup.sign_key(setup.model)
            signed = client.attach_signature("churn", v1, bundle, reason="trained by CI", request_id="attach-v1")
            # A retry of the same request attaches once.
            assert client.attach_signature("churn", v1, bundle, reason="trained by CI", request_id="attach-v1") == signed
            assert signed.signature is not None
            assert (signed.signature.status, signed.signature.method) == ("VERIFIED", "key")
            assert (signed.signature.signer, signed.signature.trusted_by) == ("training-pipeline", "training-pipeline")
            assert signed.signature.file_count == 2 and signed.signature.signed_name == "churn-model"
            assert client.get_model_version("churn", v1).signature == signed.signature, "every read shows it"

            whole = client.get_version_signature("churn", v1)
            assert whole.files == {
                name: hashlib.sha256((setup.model / name).read_bytes()).hexdigest() for name in ("config.json", "weights.bin")
            }
            returned = setup.dir / "returned-key.sig"
            returned.write_text(whole.bundle)
            model_signing("verify", "key", str(setup.model), "--signature", str(returned), "--public_key", str(setup.public_key))

            # The certificate method: the signer is the certificate's identity.
            certificate, key = setup.ca.issue(setup.dir / "trainer", "trainer@acme.example")
            v2 = register(client, "churn", f"file://{setup.model}")
            bundle = setup.sign_certificate(setup.model, certificate, key, setup.ca.pem)
            by_certificate = client.attach_signature("churn", v2, bundle).signature
            assert by_certificate is not None
            assert (by_certificate.method, by_certificate.signer, by_certificate.trusted_by) == (
                "certificate", "trainer@acme.example", "acme-ml-ca",
            )
            returned = setup.dir / "returned-certificate.sig"
            by_ca = client.get_version_signature("churn", v2)
            assert by_ca.trusted_now and by_ca.untrusted_reason == ""
            returned.write_text(by_ca.bundle)
            model_signing("verify", "certificate", str(setup.model), "--signature", str(returned), "--certificate_chain", str(setup.ca.pem))

            events = [e for e in client.list_events("churn") if e.type.value == "SIGNATURE_ATTACHED"]
            assert [(e.version, e.reason) for e in events] == [(v1, "trained by CI"), (v2, "")]
            detail = events[1].to_dict()["detail"]
            assert "signed by trainer@acme.example (certificate method" in detail, detail
            with pytest.raises(NotFound):
                client.get_version_signature("churn", register(client, "churn", "s3://unsigned"))
    finally:
        stop_server(server)


def test_every_wrong_signature_is_refused_saying_which_check_failed(setup: Setup) -> None:
    server = start_server(setup.dir, "--signature-trust", str(setup.trust))
    try:
        with RegistryClient(server.address) as client:
            version = register(client, "churn", f"file://{setup.model}")
            good = setup.sign_key(setup.model)

            stranger = pem_key(ec.generate_private_key(ec.SECP256R1()), setup.dir / "stranger.key")
            assert "does not verify with any public key" in refusal(client, "churn", version, setup.sign_key(setup.model, stranger))

            tampered = json.loads(good.read_text())
            statement = json.loads(base64.b64decode(tampered["dsseEnvelope"]["payload"]))
            statement["predicate"]["resources"][0]["digest"] = "00" * 32
            tampered["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
            assert "does not verify" in refusal(client, "churn", version, json.dumps(tampered))

            # A one-file model registered with its sha256, and a signature over other bytes.
            single, other = setup.one_file_models()
            one = register(client, "churn", path=single / "model.pkl")
            assert "signs other bytes" in refusal(client, "churn", one, setup.sign_key(other))
            assert client.attach_signature("churn", one, setup.sign_key(single)).signature is not None

            for label, issued, expected in [
                ("expired", setup.ca.issue(setup.dir / "expired", "trainer@acme.example", expired=True), "has expired"),
                ("wrong purpose", setup.ca.issue(setup.dir / "tls", "trainer@acme.example", purpose=ExtendedKeyUsageOID.SERVER_AUTH), "not for code signing"),
                ("no signing usage", setup.ca.issue(setup.dir / "nousage", "trainer@acme.example", digital_signature=False), "key usage"),
                ("another identity", setup.ca.issue(setup.dir / "outsider", "someone@elsewhere.example"), "not among the identities"),
            ]:
                certificate, key = issued
                bundle = setup.sign_certificate(setup.model, certificate, key, setup.ca.pem)
                assert expected in refusal(client, "churn", version, bundle), label
            rogue = Authority.make(setup.dir / "rogue-ca.pem", "Rogue CA")
            certificate, key = rogue.issue(setup.dir / "rogue", "trainer@acme.example")
            assert "does not chain" in refusal(client, "churn", version, setup.sign_certificate(setup.model, certificate, key, rogue.pem))

            keyless = json.loads(good.read_text())
            keyless["verificationMaterial"] = {"certificate": {"rawBytes": "AA=="}, "tlogEntries": [{"logIndex": "1"}]}
            assert "keyless" in refusal(client, "churn", version, json.dumps(keyless))
            assert "not a model-signing bundle" in refusal(client, "churn", version, "{not json")

            # The trust file's signers are for churn only.
            fraud = register(client, "fraud", f"file://{setup.model}")
            assert "covers model \"fraud\"" in refusal(client, "fraud", fraud, good)

            # Nothing refused was kept.
            assert client.get_model_version("churn", version).signature is None
            assert [e.type.value for e in client.list_events("churn")].count("SIGNATURE_ATTACHED") == 1
    finally:
        stop_server(server)


def test_a_registration_carries_its_signature_and_policies_require_one(setup: Setup, backend: list[str]) -> None:
    """RegisterModel verifies signature_bundle before anything is written; the
    trust file makes fraud- models registrable only signed; a policy keeps
    production on signed versions for every move, rollbacks included."""
    setup.trust.write_text(
        'require_signature_to_register = ["fraud-"]\n\n'
        '[[signer]]\nname = "training-pipeline"\npublic_key_file = "training.pub"\nmodel_prefixes = ["churn", "fraud-"]\n'
    )
    server = start_server(setup.dir, "--signature-trust", str(setup.trust), *backend)
    try:
        with RegistryClient(server.address) as client:
            bundle = setup.sign_key(setup.model)
            signed = client.register_model(
                "churn", algorithm="XGBoost", artifact_uri=f"file://{setup.model}", signature_bundle=bundle, request_id="run-1"
            )
            assert signed.signature is not None and (signed.signature.status, signed.signature.signer) == (
                "VERIFIED", "training-pipeline",
            )
            assert client.get_version_signature("churn", signed.version).bundle == bundle.read_text()
            again = client.register_model(
                "churn", algorithm="XGBoost", artifact_uri=f"file://{setup.model}", signature_bundle=bundle, request_id="run-1"
            )
            assert again.version == signed.version, "a retry registers once"
            # Signed again (ECDSA signatures differ each time): another request.
            resigned = setup.dir / "resigned.sig"
            model_signing("sign", "key", str(setup.model), "--private_key", str(setup.key), "--signature", str(resigned))
            with pytest.raises(AlreadyExists):
                client.register_model(
                    "churn", algorithm="XGBoost", artifact_uri=f"file://{setup.model}", request_id="run-1",
                    signature_bundle=resigned,
                )
            kinds = [(e.type.value, e.version) for e in client.list_events("churn")]
            assert kinds[-2:] == [("VERSION_REGISTERED", signed.version), ("SIGNATURE_ATTACHED", signed.version)]

            # Refused bundles: nothing is written, not even the model.
            def refused_registration(name: str, **artifact: object) -> str:
                with pytest.raises(InvalidArgument) as refused:
                    client.register_model(name, algorithm="XGBoost", signature_bundle=artifact.pop("bundle"), **artifact)  # type: ignore[arg-type]
                assert [v.field for v in refused.value.field_violations] == ["signature_bundle"], refused.value
                return refused.value.field_violations[0].description

            stranger = pem_key(ec.generate_private_key(ec.SECP256R1()), setup.dir / "stranger.key")
            assert "does not verify" in refused_registration(
                "churn-new", artifact_uri="s3://m/1", bundle=setup.sign_key(setup.model, stranger)
            )
            single, other = setup.one_file_models()
            assert "signs other bytes" in refused_registration(
                "churn-new", artifact_path=single / "model.pkl", bundle=setup.sign_key(other)
            )
            # A dry run (validate_only) answers as the registration would.
            artifact = pb.Artifact(
                uri=(single / "model.pkl").as_uri(), sha256=hashlib.sha256((single / "model.pkl").read_bytes()).hexdigest()
            )
            dry_run = pb.RegisterModelRequest(
                model_name="churn-new", algorithm="XGBoost", artifact=artifact, validate_only=True,
                signature_bundle=setup.sign_key(other).read_text(),
            )
            with grpc.insecure_channel(server.address) as channel, pytest.raises(grpc.RpcError) as dry:
                pb_grpc.RegistryServiceStub(channel).RegisterModel(dry_run, timeout=10)
            assert dry.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "signs other bytes" in str(dry.value.details())
            with pytest.raises(NotFound):
                client.get_model("churn-new")

            # Required at registration for fraud- models.
            with pytest.raises(FailedPrecondition) as unsigned:
                client.register_model("fraud-cards", algorithm="XGBoost", artifact_uri="s3://m/1")
            assert "require_signature_to_register" in str(unsigned.value) and '"fraud-"' in str(unsigned.value)
            fraud = client.register_model(
                "fraud-cards", algorithm="XGBoost", artifact_uri=f"file://{setup.model}", signature_bundle=bundle
            )
            assert fraud.signature is not None

            # Production requires a verified signature: v1 signed, v2 not.
            plain = client.register_model("churn", algorithm="XGBoost", artifact_uri="s3://m/plain").version
            client.set_production_model("churn", plain, "before the policy")
            client.set_production_model("churn", signed.version, "signed")
            policy = client.set_alias_policy("churn", "production", "signed models only", require_signature=True)
            assert policy.require_signature and client.get_alias_policy("churn", "production").require_signature
            with pytest.raises(FailedPrecondition) as refused:
                client.set_production_model("churn", plain, "unsigned")
            assert "no verified signature" in str(refused.value)
            with pytest.raises(FailedPrecondition) as refused:
                client.rollback_production_model("churn", "back to the unsigned one")
            assert "no verified signature" in str(refused.value)
            assert client.get_production_model("churn").version == signed.version
            # Signed later, it may go.
            client.attach_signature("churn", plain, setup.sign_key(setup.model))
            assert client.set_production_model("churn", plain, "signed since").model_version.version == plain

            # Through a change request: the candidate's evidence.
            client.set_alias_policy(
                "churn", "production", "reviewed and signed", protected=True, require_signature=True
            )
            unsigned_version = client.register_model("churn", algorithm="XGBoost", artifact_uri="s3://m/3").version
            with pytest.raises(FailedPrecondition) as refused:
                client.request_alias_change("churn", "production", unsigned_version, "try")
            assert "no verified signature" in str(refused.value)
            assert client.request_alias_change("churn", "production", signed.version, "back").version == signed.version
    finally:
        stop_server(server)


def test_a_policy_requiring_a_signature_stops_taking_a_revoked_signers_versions(setup: Setup, backend: list[str]) -> None:
    """Once the trust file stops vouching for a signer, an alias whose policy
    requires a signature no longer moves to what it signed: not directly, not
    by a change request, not by a rollback, and the console's requests page
    says so; an admin's break-glass move still can, and a version another
    trusted signer signed still moves."""
    setup.trust.write_text(
        '[[signer]]\nname = "training-pipeline"\npublic_key_file = "training.pub"\nmodel_prefixes = ["churn"]\n\n'
        '[[signer]]\nname = "acme-ml-ca"\nca_file = "ml-ca.pem"\nidentities = ["*@acme.example"]\nmodel_prefixes = ["churn"]\n'
    )
    web = f"127.0.0.1:{free_port()}"
    server = start_server(setup.dir, "--signature-trust", str(setup.trust), "--web-listen", web, *backend)
    try:
        with RegistryClient(server.address) as client:
            by_key = setup.sign_key(setup.model)
            first, second, third = (
                client.register_model("churn", algorithm="XGBoost", artifact_uri=f"file://{setup.model}", signature_bundle=by_key).version
                for _ in range(3)
            )
            certificate, key = setup.ca.issue(setup.dir / "trainer", "trainer@acme.example")
            by_ca = client.register_model(
                "churn",
                algorithm="XGBoost",
                artifact_uri=f"file://{setup.model}",
                signature_bundle=setup.sign_certificate(setup.model, certificate, key, setup.ca.pem),
            ).version
            client.set_alias_policy("churn", "production", "signed only", require_signature=True)
            client.set_production_model("churn", first, "signed")
            client.set_production_model("churn", second, "signed")
            client.set_alias_policy("churn", "staging", "reviewed", protected=True, require_signature=True)
            pending = client.request_alias_change("churn", "staging", third, "made while its signer was trusted")
            assert "verified: training-pipeline (key method)" in request_card(web, pending.id)
            # Calls whose answer a network failure could have lost, and are retried below.
            def signed_registration(request_id: str) -> int:
                uri = f"file://{setup.model}"
                return client.register_model("churn", algorithm="XGBoost", artifact_uri=uri, signature_bundle=by_key, request_id=request_id).version

            def unsigned_registration(request_id: str) -> int:
                return client.register_model("churn", algorithm="XGBoost", artifact_uri="s3://m/u", request_id=request_id).version

            signed_first = signed_registration("signed-run")
            unsigned_first = unsigned_registration("unsigned-run")
            attached_first = client.attach_signature("churn", unsigned_first, by_key, request_id="attach-run").signature

            # The key's signer leaves the trust file, which now requires a signature to register.
            setup.trust.write_text(
                'require_signature_to_register = ["churn"]\n\n'
                '[[signer]]\nname = "acme-ml-ca"\nca_file = "ml-ca.pem"\nidentities = ["*@acme.example"]\n'
            )
            server.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while client.get_version_signature("churn", third).trusted_now:
                assert time.monotonic() < deadline, "the trust file was not read again"
                time.sleep(0.05)

            # A retry answers what its first call did; a new call is judged by the file as it is.
            assert signed_registration("signed-run") == signed_first
            assert unsigned_registration("unsigned-run") == unsigned_first
            assert client.attach_signature("churn", unsigned_first, by_key, request_id="attach-run").signature == attached_first
            with pytest.raises(InvalidArgument, match="does not verify with any public key"):
                signed_registration("signed-run-2")
            with pytest.raises(FailedPrecondition, match="require_signature_to_register"):
                unsigned_registration("unsigned-run-2")
            with pytest.raises(InvalidArgument, match="does not verify with any public key"):
                client.attach_signature("churn", unsigned_first, by_key, request_id="attach-run-2")
            # A call without a request key has nothing to replay, and is refused the same.
            with grpc.insecure_channel(server.address) as channel:
                stub = pb_grpc.RegistryServiceStub(channel)
                bundle = by_key.read_text()
                for call, request in (
                    (stub.RegisterModel, pb.RegisterModelRequest(
                        model_name="churn", algorithm="XGBoost", artifact=pb.Artifact(uri="s3://m/k"), signature_bundle=bundle
                    )),
                    (stub.AttachSignature, pb.AttachSignatureRequest(model_name="churn", version=unsigned_first, bundle=bundle)),
                ):
                    with pytest.raises(grpc.RpcError) as keyless:
                        call(request, timeout=10)
                    assert keyless.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                    assert "does not verify with any public key" in str(keyless.value.details())

            revoked = "no longer verifies against the signature trust file"
            with pytest.raises(FailedPrecondition, match=revoked) as refused:
                client.set_production_model("churn", third, "signed once")
            assert "does not verify with any public key" in str(refused.value)
            with pytest.raises(FailedPrecondition, match=revoked):
                client.rollback_alias("churn", "production", "back to the first")
            with pytest.raises(FailedPrecondition, match=revoked):
                client.request_alias_change("churn", "staging", second, "please")
            card = request_card(web, pending.id)
            assert "NO LONGER VERIFIES signed by training-pipeline (key method)" in card, card
            trusted = client.request_alias_change("churn", "staging", by_ca, "still trusted")
            assert "verified: trainer@acme.example (certificate method)" in request_card(web, trusted.id)
            assert client.get_production_model("churn").version == second
            # Break-glass is the admin's way past it, flagged in the trail.
            moved = client.rollback_alias("churn", "production", "incident", emergency=True)
            assert moved.model_version.version == first
    finally:
        stop_server(server)


def request_card(web: str, request_id: int) -> str:
    """The text of a pending request's card on the console's requests page."""
    with urllib.request.urlopen(f"http://{web}/requests?model=churn", timeout=10) as response:
        page = BeautifulSoup(response.read(), "html.parser")
    card = page.select_one(f"#request-{request_id}")
    assert card is not None, f"no card of request {request_id}"
    return str(card.get_text(" ", strip=True))


def test_the_trust_file_is_read_again_on_sighup(setup: Setup) -> None:
    server = start_server(setup.dir, "--signature-trust", str(setup.trust))
    try:
        with RegistryClient(server.address) as client:
            version = register(client, "churn", f"file://{setup.model}")
            signature = setup.sign_key(setup.model)
            kept = register(client, "churn", f"file://{setup.model}")
            client.attach_signature("churn", kept, signature)
            assert client.get_version_signature("churn", kept).trusted_now
            setup.trust.write_text('[[signer]]\nname = "acme-ml-ca"\nca_file = "ml-ca.pem"\n')
            server.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.attach_signature("churn", version, signature)
                except InvalidArgument as refused:
                    assert "does not verify with any public key" in str(refused)
                    break
                assert time.monotonic() < deadline, "the removed key still vouches"
                time.sleep(0.05)
            # What it signed before stays attached, and says it no longer verifies.
            untrusted = client.get_version_signature("churn", kept)
            assert untrusted.version.signature is not None and not untrusted.trusted_now
            assert "does not verify with any public key" in untrusted.untrusted_reason
            # A broken file keeps the one in force.
            setup.trust.write_text("[[signer]]\nname = 'broken'\n")
            server.process.send_signal(signal.SIGHUP)
            certificate, key = setup.ca.issue(setup.dir / "trainer", "trainer@acme.example")
            bundle = setup.sign_certificate(setup.model, certificate, key, setup.ca.pem)
            deadline = time.monotonic() + 10
            while "signature trust file NOT reloaded" not in (setup.dir / "server.log").read_text():
                assert time.monotonic() < deadline, "no word of the broken file"
                time.sleep(0.05)
            assert client.attach_signature("churn", version, bundle).signature is not None
    finally:
        stop_server(server)


def test_the_server_refuses_to_start_with_a_broken_trust_file(setup: Setup) -> None:
    setup.trust.write_text('[[signer]]\nname = "x"\npublic_key_file = "missing.pub"\n')
    server = start_server(setup.dir, "--signature-trust", str(setup.trust), wait=False)
    try:
        assert server.process.wait(timeout=30) != 0
        assert "missing.pub" in (setup.dir / "server.log").read_text()
    finally:
        if server.process.poll() is None:
            stop_server(server)


def test_the_readme_trust_file_vouches_for_the_readme_signer(setup: Setup) -> None:
    """The README's trust file, with the key and CA it names, as a server's."""
    readme = setup.dir / "readme"
    readme.mkdir()
    (readme / "training.pub").write_bytes(setup.public_key.read_bytes())
    (readme / "acme-ml-ca.pem").write_bytes(setup.ca.pem.read_bytes())
    (readme / "trust.toml").write_text(readme_block("signature-trust", "toml"))
    server = start_server(setup.dir, "--signature-trust", str(readme / "trust.toml"))
    try:
        with RegistryClient(server.address) as client:
            version = register(client, "churn", f"file://{setup.model}")
            signed = client.attach_signature("churn", version, setup.sign_key(setup.model)).signature
            assert signed is not None and signed.signer == "training-pipeline"
            certificate, key = setup.ca.issue(setup.dir / "readme-trainer", "ml-bot@acme.example")
            bundle = setup.sign_certificate(setup.model, certificate, key, setup.ca.pem)
            by_certificate = client.attach_signature("churn", version, bundle).signature
            assert by_certificate is not None and by_certificate.signer == "ml-bot@acme.example"
            with pytest.raises(FailedPrecondition):
                client.register_model("fraud-cards", algorithm="XGBoost", artifact_uri="s3://m/1")
            fraud = client.register_model(
                "fraud-cards", algorithm="XGBoost", artifact_uri="s3://m/1", signature_bundle=setup.sign_key(setup.model)
            )
            assert fraud.signature is not None and fraud.signature.signer == "training-pipeline"
    finally:
        stop_server(server)
