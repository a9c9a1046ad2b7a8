"""ARCHITECTURE.md stays true: every path it names exists, and the server's
top-level modules import only what its layer table allows, which itself has
no circle."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO

SERVER = REPO / "server" / "src"


def allowed() -> dict[str, set[str]]:
    """The layer table: module -> the modules it may import."""
    page = (REPO / "ARCHITECTURE.md").read_text()
    table = page.split("<!-- layers:start -->", 1)[1].split("<!-- layers:end -->", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        found = re.fullmatch(r"`([a-z_]+)`", cells[0]) if cells else None
        if found:
            rows[found.group(1)] = set(re.findall(r"`([a-z_]+)`", cells[1]))
    everything = set(rows)
    for module, allowed_imports in rows.items():
        if "every module above" in table.split(f"`{module}`", 1)[1].split("\n", 1)[0]:
            rows[module] = everything - {module}
        else:
            rows[module] = allowed_imports
    return rows


def imports() -> dict[str, set[str]]:
    """Each top-level module of server/src and the modules it imports,
    outside its tests."""
    found: dict[str, set[str]] = {}
    for path in SERVER.rglob("*.rs"):
        module = path.relative_to(SERVER).parts[0].removesuffix(".rs")
        if module in {"main", "lib"}:
            continue
        code = path.read_text().split("#[cfg(test)]", 1)[0]
        names = set(re.findall(r"crate::([a-z_]+)", code))
        for group in re.findall(r"crate::\{([^}]*)\}", code):
            names |= set(re.findall(r"(?:^|[,\s])([a-z_]+)(?:::|\s*,|\s*$)", group))
        found.setdefault(module, set()).update(names - {module})
    return found


def test_every_module_is_in_the_layer_table_and_imports_only_what_it_allows() -> None:
    table, actual = allowed(), imports()
    assert set(actual) <= set(table), f"modules missing from ARCHITECTURE.md: {set(actual) - set(table)}"
    wrong = {module: sorted(names - table[module]) for module, names in actual.items() if names - table[module]}
    assert not wrong, f"imports the layer table does not allow (move the code, or the wall and the page): {wrong}"


def test_the_layer_table_has_no_circle() -> None:
    table = allowed()
    order: list[str] = []
    remaining = dict(table)
    while remaining:
        ready = [m for m, deps in remaining.items() if deps <= set(order)]
        assert ready, f"a circle among {sorted(remaining)}"
        order += sorted(ready)
        for module in ready:
            del remaining[module]


def test_every_path_the_page_names_exists() -> None:
    page = (REPO / "ARCHITECTURE.md").read_text()
    paths = {p for p in re.findall(r"`([A-Za-z0-9_./-]+)`", page) if "/" in p}
    assert len(paths) > 20, "the page names the files"
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_the_import_scan_finds_imports_known_to_exist() -> None:
    """The scan sees real imports (a check that sees nothing cannot fail)."""
    assert "grpc" in imports()["server"] and "registry" in imports()["grpc"]
    assert "domain" in imports()["store"] and "store" in imports()["registry"]


def code_of(directory: str) -> dict[str, str]:
    """Each file under server/src/DIRECTORY and its code before its tests."""
    return {
        str(path.relative_to(REPO)): path.read_text().split("#[cfg(test)]", 1)[0]
        for path in (SERVER / directory).rglob("*.rs")
    }


def test_the_use_cases_hold_no_sql() -> None:
    files = code_of("registry")
    assert len(files) >= 4
    sql = {path for path, code in files.items() if re.search(r"diesel|sql_query|\bSELECT\b|\bUPDATE\b", code)}
    assert not sql, f"SQL in the use-case layer (move it behind a Tx method in store/tx.rs): {sorted(sql)}"


def test_the_store_holds_no_rules() -> None:
    """Access checks, idempotency and alias rules live in the use cases."""
    files = code_of("store")
    assert any("diesel" in code for code in files.values())
    rules = re.compile(r"check_model|check_alias|Fingerprint|idempotency::|alias::check|check_transition")
    mixed = {path for path, code in files.items() if rules.search(code)}
    assert not mixed, f"rules in the store (move them to server/src/registry/): {sorted(mixed)}"


def test_no_server_file_outgrows_a_reading() -> None:
    """No file of server/src over 600 lines before its tests, except the
    generated schema."""
    long = {
        str(path.relative_to(REPO)): lines
        for path in SERVER.rglob("*.rs")
        if (lines := path.read_text().split("#[cfg(test)]", 1)[0].count("\n")) > 600
        and path.name != "schema.rs"
    }
    assert not long, f"files to split by job: {long}"
    assert Path(SERVER / "store" / "figures.rs").is_file()


def test_every_test_security_md_cites_exists() -> None:
    """SECURITY.md says which test holds each finding: each named test and
    file must exist, or the page would promise what nothing checks."""
    page = (REPO / "SECURITY.md").read_text()
    sources = "\n".join(
        path.read_text()
        for root in ("tests", "server/src", "client", "cli/src")
        for path in (REPO / root).rglob("*")
        if path.suffix in {".py", ".rs"} and "_generated" not in path.parts
    )
    cited = set(re.findall(r"`(?:[\w/.]*::)?((?:test_|a_|an_)\w+)`", page))
    assert len(cited) >= 15, cited
    for name in cited:
        assert re.search(rf"\bfn {name}\b|\bdef {name}\b", sources), f"SECURITY.md cites {name}, which does not exist"
    for path in re.findall(r"`((?:tests|server|cli)/[\w/.]+\.(?:py|rs))", page):
        assert (REPO / path).exists(), path
