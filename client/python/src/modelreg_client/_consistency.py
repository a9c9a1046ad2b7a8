"""The newest consistency token a client has seen. Every change's response
carries one; the alias reads (`get_production_model`, `get_version_by_alias`)
send it, so a client that changes something through one replica and reads
it through another (behind a load balancer) always reads its own change."""

from __future__ import annotations

import threading
from typing import Any

FIELD = "consistency_token"


def _order(token: str) -> int | None:
    """Where a token stands among others: it names the transaction that wrote
    a change (`v1.<id>`), and a later one includes the earlier ones."""
    prefix, _, number = token.partition(".")
    if prefix != "v1" or not number.isdigit():
        return None
    return int(number)


class NewestToken:
    """The newest token seen; shared by the calls of one client, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token = ""

    @property
    def value(self) -> str:
        return self._token

    def saw(self, token: str) -> None:
        """Keeps `token` if it is newer than the one kept (an empty token, from
        a change that wrote nothing, changes nothing)."""
        if not token:
            return
        with self._lock:
            kept, seen = _order(self._token), _order(token)
            if not self._token or kept is None or seen is None or seen > kept:
                self._token = token

    def stamp(self, request: Any) -> None:
        """Sends the newest token with a read that takes one."""
        if self._token and FIELD in request.DESCRIPTOR.fields_by_name and not getattr(request, FIELD):
            setattr(request, FIELD, self._token)

    def note(self, response: Any) -> None:
        """Keeps the token a change's response carries."""
        if FIELD in response.DESCRIPTOR.fields_by_name:
            self.saw(getattr(response, FIELD))
