"""Where a client's bearer token comes from, the way platforms hand tokens
out: a file rotated in place (Kubernetes projected service-account tokens),
an environment variable, a command that prints one (a cloud CLI, a vault
agent), or the GitHub Actions OIDC request. Tokens that expire (JWTs carry
`exp`) are fetched again shortly before they do, so a long-running client
never sends an expired one.

    from modelreg_client import RegistryClient
    from modelreg_client.tokens import GitHubActionsToken

    with RegistryClient(url, token_provider=GitHubActionsToken(audience="model-registry")) as registry:
        ...

Any callable returning the token works as a provider too."""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

# A file modified this shortly before it was read is read again at the next
# call: a token rewritten with one of the same length within the file
# system's timestamp granularity keeps its stamp (git's "racily clean"
# index entries have the same problem).
RACY_SECONDS = 2.0


@runtime_checkable
class TokenProvider(Protocol):
    """Gives the bearer token for the next call."""

    def current(self) -> str:
        """The token to send now."""
        ...


def checked(token: str, source: str) -> str:
    """`token` stripped; refused when empty or not printable ASCII (it goes into a header)."""
    token = token.strip()
    if not token:
        raise ValueError(f"{source} gave an empty token")
    if not token.isascii() or not token.isprintable():
        raise ValueError(f"the token from {source} must be printable ASCII")
    return token


class TokenFile:
    """A bearer token kept in a file (a Kubernetes projected service-account
    token, a CI job's token), read again whenever the file changes, so a
    long-running client uses a rotated token from its next call. While the
    file cannot be read (between the steps of a rotation) the last token
    read is used."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._stamp, self._read_at, self._token = self._read()

    def _read(self) -> tuple[tuple[int, int], float, str]:
        read_at = time.time()
        stat = self._path.stat()
        text = self._path.read_text()
        if not text.strip():
            raise ValueError(f"the token file {self._path} is empty")
        return (stat.st_mtime_ns, stat.st_size), read_at, checked(text, f"the token file {self._path}")

    def current(self) -> str:
        """The token for the next call."""
        with self._lock:
            try:
                stat = self._path.stat()
            except OSError:
                return self._token
            stamp = (stat.st_mtime_ns, stat.st_size)
            racy = self._read_at - stat.st_mtime_ns / 1e9 < RACY_SECONDS
            if stamp != self._stamp or racy:
                try:
                    self._stamp, self._read_at, self._token = self._read()
                except OSError:
                    pass
            return self._token


class EnvToken:
    """The token in environment variable `name`, read at every call (a
    process that renews it in its own environment is followed)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.current()

    def current(self) -> str:
        """The token for the next call."""
        value = os.environ.get(self._name)
        if value is None:
            raise ValueError(f"${self._name} is not set")
        return checked(value, f"${self._name}")


def expiry_of(token: str) -> float | None:
    """A JWT's `exp` (seconds since the epoch), read without verifying it
    (the server verifies; the client only plans its refresh); None for
    other tokens."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


class ExpiringToken:
    """A token fetched by `fetch` and kept until `refresh_before` seconds
    before its `exp`, or half its life if that is shorter (a token without
    `exp` is kept `max_age` seconds). When
    a fetch fails while the kept token is still valid, the kept token is
    used and the next call tries again."""

    def __init__(
        self, fetch: Callable[[], str], *, source: str, refresh_before: float = 60.0, max_age: float = 300.0
    ) -> None:
        if refresh_before < 0 or max_age <= 0:
            raise ValueError("refresh_before must be >= 0 and max_age > 0 seconds")
        self._fetch = fetch
        self._source = source
        self._refresh_before = refresh_before
        self._max_age = max_age
        self._lock = threading.Lock()
        self._token = ""
        self._expires_at = 0.0
        self._refresh_at = 0.0

    def current(self) -> str:
        """The token for the next call, fetched again when due."""
        with self._lock:
            now = time.time()
            if now < self._refresh_at:
                return self._token
            try:
                token = checked(self._fetch(), self._source)
            except Exception:
                if self._token and now < self._expires_at:
                    return self._token
                raise
            expires_at = expiry_of(token)
            self._token = token
            self._expires_at = expires_at if expires_at is not None else now + self._max_age
            # `refresh_before` ahead of the expiry, but a token living less
            # than twice that is still used for half its life.
            self._refresh_at = (
                max(now + (expires_at - now) / 2, expires_at - self._refresh_before)
                if expires_at is not None
                else now + self._max_age
            )
            return token


class CommandToken(ExpiringToken):
    """The token a command prints on standard output (`command` a list of
    arguments, or one string split like a shell would, without running a
    shell). Run again shortly before the token expires."""

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        refresh_before: float = 60.0,
        max_age: float = 300.0,
        timeout: float = 30.0,
    ) -> None:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not argv:
            raise ValueError("the token command is empty")

        def run() -> str:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
            if done.returncode != 0:
                raise RuntimeError(
                    f"the token command {argv[0]} exited with {done.returncode}: {done.stderr.strip()[:500]}"
                )
            return done.stdout

        super().__init__(run, source=f"the token command {argv[0]}", refresh_before=refresh_before, max_age=max_age)
        self.current()


class GitHubActionsToken(ExpiringToken):
    """A GitHub Actions job's OIDC token for `audience` (the registry's
    `[[issuer]]` audience), requested from `$ACTIONS_ID_TOKEN_REQUEST_URL`
    with `$ACTIONS_ID_TOKEN_REQUEST_TOKEN` (the job needs `permissions:
    id-token: write`). Requested again shortly before it expires."""

    def __init__(self, audience: str, *, refresh_before: float = 60.0, timeout: float = 30.0) -> None:
        url = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
        bearer = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        if not url or not bearer:
            raise ValueError(
                "$ACTIONS_ID_TOKEN_REQUEST_URL and $ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set: run in a "
                "GitHub Actions job with `permissions: id-token: write`"
            )
        separator = "&" if "?" in url else "?"
        request_url = f"{url}{separator}{urllib.parse.urlencode({'audience': audience})}"

        def request() -> str:
            call = urllib.request.Request(request_url, headers={"Authorization": f"bearer {bearer}"})
            with urllib.request.urlopen(call, timeout=timeout) as answer:  # noqa: S310 - the runner's URL
                value = json.loads(answer.read(1 << 20)).get("value")
            if not isinstance(value, str):
                raise RuntimeError("the GitHub Actions token endpoint answered without a value")
            return value

        super().__init__(request, source="the GitHub Actions token endpoint", refresh_before=refresh_before)
        self.current()


def provider_of(value: TokenProvider | Callable[[], str]) -> TokenProvider:
    """`value` as a provider: a plain callable is called at every call."""
    if isinstance(value, TokenProvider):
        return value
    if callable(value):
        call = value

        class Called:
            def current(self) -> str:
                return checked(call(), "the token provider")

        return Called()
    raise TypeError("token_provider must have a current() method or be callable")
