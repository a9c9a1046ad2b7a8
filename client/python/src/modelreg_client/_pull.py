"""Downloading a version's artifact and verifying it where the bytes are used
(`RegistryClient.pull` and `verify`): every file against the version's
signature (the bundle's own statement, matched against the registry's
manifest, the bundle verified again by the registry), or a one-file artifact
against its registered sha256. Nothing is left in the target directory unless
all of it verifies. Sources: `file://`, `http(s)://`, and `s3://` through
boto3 when it is installed (credentials and `AWS_ENDPOINT_URL` from the
environment, as boto3 reads them)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._requests import file_digest
from .records import ModelVersion, VersionSignature

_CHUNK = 1 << 20


class VerificationError(Exception):
    """Downloaded or local files are not the ones signed or registered, or
    the version's signature no longer verifies; the message names every file
    that differs."""


@dataclass(frozen=True)
class PulledModel:
    """A version's artifact on local disk, and what it was verified against."""

    model_name: str
    version: int
    directory: Path
    verified_by: str
    """`signature`, `sha256`, or `nothing` (allowed with `allow_unverified`)."""
    files: dict[str, str] = field(default_factory=dict)
    """Relative path (with `/`) -> SHA-256 of every file."""
    signer: str = ""


def expectation(
    version: ModelVersion, signature: VersionSignature | None, allow_unverified: bool
) -> tuple[str, dict[str, str]]:
    """What the files must be: (`signature` | `sha256` | `nothing`, name -> sha256)."""
    label = f"{version.model_name} version {version.version}"
    if signature is not None:
        if not signature.trusted_now:
            raise VerificationError(
                f"the signature of {label} no longer verifies against the registry's trust file: "
                f"{signature.untrusted_reason}"
            )
        signed = _statement_files(signature.bundle)
        if signed != {name: digest.lower() for name, digest in signature.files.items()}:
            raise VerificationError("the registry's list of signed files is not the one in the signature's statement")
        return "signature", signed
    if version.artifact.sha256:
        name = version.artifact.uri.rstrip("/").rsplit("/", 1)[-1]
        return "sha256", {urllib.parse.unquote(name): version.artifact.sha256.lower()}
    if allow_unverified:
        return "nothing", {}
    raise VerificationError(
        f"{label} has neither a signature nor a sha256: nothing to verify the files against "
        "(allow_unverified=True takes them as they are)"
    )


def _statement_files(bundle: str) -> dict[str, str]:
    try:
        document = json.loads(bundle)
        statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
        resources = statement["predicate"]["resources"]
        files = {}
        for resource in resources:
            if resource.get("algorithm") != "sha256":
                raise VerificationError(f"the signature lists {resource.get('name')!r} without a sha256")
            files[str(resource["name"])] = str(resource["digest"]).lower()
        return files
    except (ValueError, KeyError, TypeError) as error:
        raise VerificationError(f"the signature bundle cannot be read: {error}") from error


def digests(path: Path) -> dict[str, str]:
    """SHA-256 of a file (by its name) or of every file under a directory (by
    relative path with `/`)."""
    if path.is_file():
        return {path.name: file_digest(path)[0]}
    found = {}
    for file in sorted(p for p in path.rglob("*") if not p.is_dir()):
        if file.is_symlink():
            raise VerificationError(f"{file} is a symbolic link: refusing to follow it")
        found[file.relative_to(path).as_posix()] = file_digest(file)[0]
    return found


def differences(expected: dict[str, str], found: dict[str, str]) -> list[str]:
    """Every way `found` differs from `expected`, one line per file."""
    if len(expected) == 1 and len(found) == 1:
        # One file signed or registered, one file here: its name may differ
        # from the one the signer saw, its bytes may not.
        ((name, digest),) = found.items()
        ((_, wanted),) = expected.items()
        return [] if digest == wanted else [f"{name}: sha256 {digest}, but {wanted} was signed or registered"]
    problems = []
    for name, digest in sorted(expected.items()):
        if name not in found:
            problems.append(f"{name}: missing")
        elif found[name] != digest:
            problems.append(f"{name}: sha256 {found[name]}, but {digest} was signed or registered")
    problems.extend(f"{name}: not covered by the signature (an extra file)" for name in sorted(set(found) - set(expected)))
    return problems


def check(label: str, kind: str, expected: dict[str, str], path: Path, found: dict[str, str] | None = None) -> dict[str, str]:
    """The digests of `path` (or `found`, taken as it was written), when they
    are what `expected` says."""
    found = digests(path) if found is None else found
    if kind != "nothing" and (problems := differences(expected, found)):
        raise VerificationError(f"{label} does not verify: {'; '.join(problems)}")
    return found


def _destination(into: Path, name: str) -> Path:
    parts = name.split("/")
    if any(part in ("", ".", "..") or "\\" in part for part in parts):
        raise VerificationError(f"refusing the file name {name!r}: it would be written outside the target directory")
    return into.joinpath(*parts)


class _Transfer:
    """One download's bytes against the artifact's registered size and the
    caller's `max_bytes` (a source sending more is stopped there, before the
    disk fills), and the SHA-256 of each file it streamed, taken on the way so
    a large model is not read back."""

    def __init__(self, uri: str, registered_size: int | None, max_bytes: int | None) -> None:
        self.uri, self.registered_size, self.max_bytes, self.received = uri, registered_size, max_bytes, 0
        self.streamed: dict[str, str] = {}

    def count(self, size: int) -> None:
        self.received += size
        if self.registered_size is not None and self.received > self.registered_size:
            raise VerificationError(
                f"{self.uri} holds more than the {self.registered_size} bytes registered as its size_bytes; "
                "stopped there and kept nothing"
            )
        if self.max_bytes is not None and self.received > self.max_bytes:
            raise VerificationError(
                f"{self.uri} holds more than the {self.max_bytes} bytes max_bytes allows; stopped there and kept nothing"
            )

    def copy_file(self, source: Path, target: Path) -> None:
        self.count(source.stat().st_size)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    def save(self, source: Any, into: Path, name: str) -> None:
        target = _destination(into, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with open(target, "wb") as out:
            while chunk := source.read(_CHUNK):
                self.count(len(chunk))
                digest.update(chunk)
                out.write(chunk)
        self.streamed[name] = digest.hexdigest()


def download(
    uri: str,
    names: list[str],
    into: Path,
    stall_timeout: float = 60.0,
    registered_size: int | None = None,
    max_bytes: int | None = None,
) -> dict[str, str] | None:
    """Fetches the artifact at `uri` into the empty directory `into`; `names`
    (the signed files) say what to fetch of a directory served over HTTP. A
    source that sends nothing for `stall_timeout` seconds fails it, and one
    sending more than `registered_size` or `max_bytes` in all. Returns each
    file's SHA-256 when it was taken on the way (HTTP, S3); a local copy is
    hashed where it lands."""
    transfer = _Transfer(uri, registered_size, max_bytes)
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme == "file":
        source = Path(urllib.parse.unquote(parsed.path))
        if source.is_file():
            transfer.copy_file(source, into / source.name)
            return None
        for file in sorted(p for p in source.rglob("*") if not p.is_dir()):
            if file.is_symlink():
                raise VerificationError(f"{file} is a symbolic link: refusing to follow it")
            transfer.copy_file(file, into / file.relative_to(source))
        return None
    if parsed.scheme in ("http", "https"):
        single = urllib.parse.unquote(parsed.path.rstrip("/").rsplit("/", 1)[-1])
        if not names or names == [single]:
            files = [(uri, single)]
        else:
            base = uri.rstrip("/")
            files = [(f"{base}/{'/'.join(urllib.parse.quote(p) for p in name.split('/'))}", name) for name in names]
        for url, name in files:
            # The timeout bounds each wait on the socket: a stall, not the download.
            with urllib.request.urlopen(url, timeout=stall_timeout) as response:  # noqa: S310 (scheme checked above)
                transfer.save(response, into, name)
        return transfer.streamed
    if parsed.scheme == "s3":
        _download_s3(parsed.netloc, parsed.path.lstrip("/"), into, transfer, stall_timeout)
        return transfer.streamed
    raise VerificationError(f"cannot download {uri!r}: pull reads file://, http(s):// and s3:// artifacts")


def _download_s3(bucket: str, key: str, into: Path, transfer: _Transfer, stall_timeout: float) -> None:
    try:
        import boto3  # type: ignore[import-untyped, import-not-found, unused-ignore]
        from botocore.config import Config  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError as error:
        raise VerificationError("s3:// artifacts need boto3 (pip install boto3)") from error
    s3 = boto3.client("s3", config=Config(connect_timeout=10, read_timeout=stall_timeout))
    key = key.rstrip("/")
    objects: list[tuple[str, str]] = []
    try:
        s3.head_object(Bucket=bucket, Key=key)
        objects = [(key, key.rsplit("/", 1)[-1])]
    except Exception:  # noqa: BLE001 (not one object: a prefix)
        prefix = f"{key}/" if key else ""
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects.extend((item["Key"], item["Key"][len(prefix) :]) for item in page.get("Contents", []))
    if not objects:
        raise VerificationError(f"s3://{bucket}/{key} holds no object")
    for object_key, name in objects:
        body = s3.get_object(Bucket=bucket, Key=object_key)["Body"]
        transfer.save(body, into, name)


def pull(
    version: ModelVersion,
    signature: VersionSignature | None,
    to: str | os.PathLike[str],
    allow_unverified: bool,
    bundle_to: str | os.PathLike[str] | None,
    stall_timeout: float = 60.0,
    max_bytes: int | None = None,
) -> PulledModel:
    """Downloads into a fresh directory beside `to`, verifies, then renames it
    to `to` (which must not exist or be empty)."""
    if max_bytes is not None and max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive number of bytes, not {max_bytes}")
    target = Path(to)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValueError(f"{target} is not an empty directory: pull into a new or empty one")
    kind, expected = expectation(version, signature, allow_unverified)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.pulling-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    label = f"{version.model_name} version {version.version} from {version.artifact.uri}"
    try:
        names = sorted(expected) if kind == "signature" else []
        registered_size = version.artifact.size_bytes or None
        streamed = download(version.artifact.uri, names, staging, stall_timeout, registered_size, max_bytes)
        found = check(label, kind, expected, staging, streamed)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        target.rmdir()
    staging.rename(target)
    if bundle_to is not None and signature is not None:
        Path(bundle_to).write_text(signature.bundle)
    signer = signature.version.signature.signer if signature and signature.version.signature else ""
    return PulledModel(version.model_name, version.version, target, kind, found, signer)
