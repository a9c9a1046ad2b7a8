"""The console's changes over raw HTTP, on both backends: asking for an alias
move, approving, rejecting and rolling back are forms that a page of another
site cannot make a signed-in browser send (Origin check, per-session form
token, SameSite=Strict cookie), that are authorised exactly like the gRPC
calls they stand for (role, two-person rule, the alias's policy), that
change nothing twice when sent twice, and that show hostile text as text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import stop_server, write_tokens_file
from test_web_console import Console, start_console
from test_web_sessions import post, sign_in

from modelreg_client import ChangeRequestState, EventType, RegistryClient

TOKENS = {
    "alice": ("deployer", "alice-secret-token-1234567890"),
    "bob": ("deployer", "bob-secret-token-1234567890"),
    "viewer": ("reader", "viewer-secret-token-1234567890"),
    "ops": ("admin", "ops-secret-token-1234567890"),
    "carol": ("deployer", "carol-secret-token-1234567890"),
}
HOSTILE = "<script>window.pwned = 1</script>"


@dataclass
class Browser:
    """What a browser signed in as one principal sends: its cookie, and the
    Origin header a page of the console gives its forms."""

    console: Console
    cookie: str

    def page(self, path: str) -> BeautifulSoup:
        return self.console.page(path, cookie=self.cookie)

    def form(self, path: str, action: str) -> dict[str, str]:
        """The hidden fields of the form posting to `action` on page `path`."""
        form = self.page(path).find("form", attrs={"action": action})
        assert form is not None, f"no form posts to {action} on {path}"
        return {field["name"]: field.get("value", "") for field in form.find_all("input", attrs={"type": "hidden"})}

    def send(self, action: str, fields: dict[str, str], origin: str | None = "same") -> tuple[int, str, str]:
        headers = {"Cookie": self.cookie}
        if origin == "same":
            headers["Origin"] = f"http://{self.console.web}"
        elif origin is not None:
            headers["Origin"] = origin
        status, answer, body = post(f"http://{self.console.web}{action}", fields, headers, as_console_page=False)
        return status, answer.get("Location") or "", BeautifulSoup(body, "html.parser").get_text(" ", strip=True)


@pytest.fixture(params=["sqlite", "postgres"])
def console(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Console]:
    tokens = write_tokens_file(tmp_path, *((name, role, token) for name, (role, token) in TOKENS.items()))
    # carol may move canary only.
    tokens.write_text(tokens.read_text().rstrip() + '\naliases = ["canary"]\n')
    args = ["--auth-tokens", "tokens.toml"]
    if request.param == "postgres":
        args += ["--database-url", request.getfixturevalue("postgres_url")]
    running = start_console(tmp_path, *args)
    try:
        yield running
    finally:
        stop_server(running.server)


def browser(console: Console, name: str) -> Browser:
    return Browser(console, sign_in(console, TOKENS[name][1]).split(";", 1)[0])


def grpc(console: Console, name: str) -> RegistryClient:
    return RegistryClient(console.server.address, token=TOKENS[name][1], timeout=10)


def seed(console: Console) -> None:
    """churn v1..v3, production at v1, protected by a one-approval policy."""
    with grpc(console, "ops") as ops:
        for auc in [0.80, 0.85, 0.90]:
            ops.register_model("churn", algorithm="XGBoost", artifact_uri="s3://m/churn.pkl", metrics={"auc": auc})
        ops.set_production_model("churn", 1, reason="first release")
        ops.set_alias_policy("churn", "production", "release process", protected=True, gate_metric="auc")


def ask(alice: Browser, version: int, reason: str) -> tuple[int, str, str]:
    fields = alice.form("/models/churn", "/models/churn/requests")
    fields.update(alias="production", version=str(version), reason=reason, confirm="yes")
    return alice.send("/models/churn/requests", fields)


def test_a_two_person_promotion_through_the_console(console: Console) -> None:
    seed(console)
    alice, bob = browser(console, "alice"), browser(console, "bob")

    # A form sent twice (a double click, a resent POST) asks once.
    fields = alice.form("/models/churn", "/models/churn/requests")
    fields.update(alias="production", version="3", reason=HOSTILE, confirm="yes")
    status, location, _ = alice.send("/models/churn/requests", fields)
    assert status == 303 and re.fullmatch(r"/requests#request-\d+", location), (status, location)
    request_id = int(location.rsplit("-", 1)[1])
    assert alice.send("/models/churn/requests", fields)[:2] == (303, location)
    with grpc(console, "viewer") as viewer:
        assert [r.id for r in viewer.list_change_requests(model_name="churn")] == [request_id]
    # Every reader of the model page learns a request waits, and where.
    waiting = browser(console, "viewer").page("/models/churn").select_one("p.open-requests a")
    assert (waiting.get_text(strip=True), waiting["href"]) == ("1 open change request", "/requests?model=churn")

    # The requester sees the request, cannot approve it, and the page offers no button.
    card = alice.page("/requests").select_one(f"#request-{request_id}")
    assert card is not None and card.select_one("form.approve") is None
    fields = bob.form("/requests", f"/requests/{request_id}/approve")
    fields["csrf"] = alice.form("/requests", f"/requests/{request_id}/cancel")["csrf"]
    status, _, text = alice.send(f"/requests/{request_id}/approve", fields)
    assert status == 403 and "two-person" in text, text

    # The approver sees the candidate next to production, and the hostile reason as text.
    page = bob.page("/requests")
    card = page.select_one(f"#request-{request_id}")
    assert card.select_one("blockquote.reason").get_text() == HOSTILE
    assert page.find("script", string=re.compile("pwned")) is None
    auc = card.select_one("tr.metric[data-metric=auc]")
    assert [cell.get_text(strip=True) for cell in auc.find_all("td")] == ["0.8000", "0.9000", "+0.1000"]
    assert "alice" in card.select_one(".requester").get_text()

    fields = bob.form("/requests", f"/requests/{request_id}/approve")
    fields["comment"] = '<img src=x onerror="window.pwned=2">'
    status, location, _ = bob.send(f"/requests/{request_id}/approve", fields)
    assert (status, location) == (303, f"/requests#request-{request_id}")
    with grpc(console, "viewer") as viewer:
        assert viewer.get_production_model("churn").version == 3
        request = viewer.get_change_request(request_id)
        assert request.state == ChangeRequestState.APPLIED
        assert request.approvers == ["bob"]
        trail = list(viewer.list_events(model_name="churn", alias="production", types=[EventType.ALIAS_SET]))
        assert (trail[-1].type, trail[-1].actor, trail[-1].change_request_id) == (EventType.ALIAS_SET, "bob", request_id)

    assert bob.page("/models/churn").select_one("p.open-requests a").get_text(strip=True) == "No open change request"
    decided = bob.page("/requests").select_one(f"#decided #request-{request_id}")
    assert "APPLIED" in decided.get_text() and decided.find("img") is None
    trail = bob.page("/models/churn").select_one("#trail")
    assert trail.find("a", string=f"request #{request_id}") is not None


def test_a_form_from_another_site_or_another_session_changes_nothing(console: Console) -> None:
    seed(console)
    alice, bob = browser(console, "alice"), browser(console, "bob")
    fields = alice.form("/models/churn", "/models/churn/requests")
    fields.update(alias="staging", version="2", reason="cross-site", confirm="yes")
    for origin in [None, "null", "http://evil.example", f"http://{console.web}.evil.example"]:
        status, _, text = alice.send("/models/churn/requests", fields, origin=origin)
        assert status == 403 and "Origin" in text, (origin, status, text)
    # Bob's token in Alice's browser (or a token from an old session) is refused.
    stolen = dict(fields, csrf=bob.form("/models/churn", "/models/churn/requests")["csrf"])
    status, _, text = alice.send("/models/churn/requests", stolen)
    assert status == 403 and "token" in text
    status, _, text = alice.send("/models/churn/requests", dict(fields, csrf=""))
    assert status == 403
    # No session: to the sign-in page, nothing made.
    status, location, _ = Browser(console, "modelreg_session=forged").send("/models/churn/requests", fields)
    assert (status, location) == (303, "/login")
    with grpc(console, "viewer") as viewer:
        assert list(viewer.list_change_requests(model_name="churn")) == []


def test_each_form_is_authorised_like_its_grpc_call(console: Console) -> None:
    seed(console)
    viewer, alice, carol = browser(console, "viewer"), browser(console, "alice"), browser(console, "carol")
    # A reader is offered no form, and one it sends anyway is refused by role.
    page = viewer.page("/models/churn")
    assert page.select_one("form.request") is None and page.select_one("form.rollback") is None
    fields = alice.form("/models/churn", "/models/churn/requests")
    fields.update(alias="staging", version="2", reason="a reader tries", confirm="yes")
    status, _, text = viewer.send("/models/churn/requests", fields)
    assert status == 403 and "CreateAliasChangeRequest needs the role deployer" in text, text
    # A deployer limited to canary, with its own valid form, cannot ask for production.
    fields = carol.form("/models/churn", "/models/churn/requests")
    fields.update(alias="production", version="3", reason="not mine to ask", confirm="yes")
    status, _, text = carol.send("/models/churn/requests", fields)
    assert status == 403 and "only the aliases" in text, text

    # Only aliases with a policy take requests: a model without one offers no request form.
    with grpc(console, "ops") as ops:
        ops.register_model("fraud", algorithm="IsolationForest", artifact_uri="s3://m/fraud.pkl")
        ops.set_alias("fraud", "canary", 1, reason="first try")
    page = alice.page("/models/fraud")
    assert page.select_one("form.request") is None and page.select_one("form.rollback") is not None
    offered = alice.page("/models/churn").select("form.request select[name=alias] option")
    assert [option["value"] for option in offered] == ["production"]

    # Every bad field is named, as the gRPC call names it.
    fields = alice.form("/models/churn", "/models/churn/requests")
    fields.update(alias="latest", version="zero", reason=" ")
    status, _, text = alice.send("/models/churn/requests", fields)
    assert status == 400, text
    for field in ["alias", "version", "reason", "confirm"]:
        assert field in text, (field, text)

    # The policy's evidence is checked: version 2 has not been moved onto canary... (no soak
    # rule here) but its AUC must beat production's: 0.85 against... production is v1 (0.80).
    with grpc(console, "ops") as ops:
        ops.set_alias("churn", "production", 3, reason="break-glass to the best", emergency=True)
    status, _, text = ask(alice, 2, "worse than production")
    assert status == 400 and "auc" in text, text

    # Rolling back: allowed on the protected alias (the emergency action) unless the policy says otherwise.
    page = alice.page("/models/churn")
    trail = page.select_one("#trail tr.emergency")
    assert trail is not None and "EMERGENCY" in trail.get_text()
    assert "EMERGENCY" in page.select_one("#aliases tr.emergency[data-alias=production]").get_text()
    action = "/models/churn/aliases/production/rollback"
    fields = alice.form("/models/churn", action)
    assert fields["expected"] == "3"
    status, location, _ = alice.send(action, dict(fields, reason="3 misbehaves", confirm="yes"))
    assert (status, location) == (303, "/models/churn#aliases")
    with grpc(console, "viewer") as viewer:
        assert viewer.get_production_model("churn").version == 1
    # The same form again, made when production was 3, is refused by compare-and-set (a fresh key).
    status, _, text = alice.send(action, dict(fields, reason="again", confirm="yes", request_id="another-key"))
    assert status == 409 and "3" in text, (status, text)
    with grpc(console, "ops") as ops:
        ops.set_alias_policy("churn", "production", "rollbacks too", protected=True, gate_metric="auc", rollback_requires_approval=True)
    fields = alice.form("/models/churn", action)
    status, _, text = alice.send(action, dict(fields, reason="try", confirm="yes"))
    assert status == 400 and "protected" in text, text


def test_a_policy_set_on_a_prefix_shows_where_it_comes_from(console: Console) -> None:
    with grpc(console, "ops") as ops:
        ops.set_alias_policy("", "production", "every fraud model", model_prefix="fraud-", protected=True)
        ops.register_model("fraud-cards", algorithm="XGBoost", artifact_uri="s3://m/f.pkl", metrics={"auc": 0.9})
    alice = browser(console, "alice")
    # The model page names the family's policy, and takes requests under it.
    facts = alice.page("/models/fraud-cards").select_one("p.open-requests").get_text(" ", strip=True)
    assert "production (policy of every model named fraud-…)" in facts, facts
    fields = alice.form("/models/fraud-cards", "/models/fraud-cards/requests")
    fields.update(alias="production", version="1", reason="first release", confirm="yes")
    status, location, _ = alice.send("/models/fraud-cards/requests", fields)
    assert status == 303 and location.startswith("/requests#request-"), (status, location)
    # The trail shows the policy's change under its prefix, linking no model.
    row = next(
        tr for tr in alice.page("/events").select("table.events tbody tr") if "ALIAS_POLICY_SET" in tr.get_text()
    )
    assert row.select_one("span.prefix").get_text(strip=True) == "fraud-…"
    assert row.find("a", href=re.compile("^/models/")) is None
