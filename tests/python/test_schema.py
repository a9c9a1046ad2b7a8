"""The hand-written diesel schema (server/src/store/schema.rs) and the two
migration trees cannot drift apart: a fresh SQLite and a fresh PostgreSQL
database, migrated by the binary, have exactly the tables and columns the
schema declares, with matching nullability and types."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from pathlib import Path

from conftest import REPO, psql, server_binary

SCHEMA = REPO / "server" / "src" / "store" / "schema.rs"

# The SQL types each diesel type may be declared as, per backend.
SQLITE_TYPES = {"BigInt": {"BIGINT", "INTEGER"}, "Text": {"TEXT"}, "Double": {"REAL"}, "Timestamp": {"TEXT"}, "Bool": {"BOOLEAN"}}
POSTGRES_TYPES = {
    "BigInt": {"bigint"},
    "Text": {"text"},
    "Double": {"double precision"},
    "Timestamp": {"timestamp without time zone"},
    "Bool": {"boolean"},
}

Columns = dict[str, dict[str, tuple[str, bool]]]


def declared() -> Columns:
    """schema.rs: table -> column -> (diesel type, nullable)."""
    text = re.sub(r"^\s*///.*$", "", SCHEMA.read_text(), flags=re.M)
    tables: Columns = {}
    for name, body in re.findall(r"diesel::table!\s*\{\s*([a-z_]+)\s*\([^)]*\)\s*\{(.*?)\}\s*\}", text, re.S):
        columns = {}
        for column, kind in re.findall(r"([a-z_0-9]+)\s*->\s*([A-Za-z<>]+)\s*,", body):
            nullable = kind.startswith("Nullable<")
            columns[column] = (kind.removeprefix("Nullable<").removesuffix(">"), nullable)
        tables[name] = columns
    assert len(tables) >= 8 and all(tables.values()), f"schema.rs parsed: {sorted(tables)}"
    return tables


def migrate(url: str) -> None:
    result = subprocess.run([server_binary(), "migrate", "--database-url", url], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def compare(schema: Columns, database: dict[str, dict[str, tuple[str, bool]]], types: dict[str, set[str]]) -> None:
    assert set(database) == set(schema), f"tables: only in the database {set(database) - set(schema)}, only in schema.rs {set(schema) - set(database)}"
    for table, columns in schema.items():
        found = database[table]
        assert set(found) == set(columns), f"{table}: only in the database {set(found) - set(columns)}, only in schema.rs {set(columns) - set(found)}"
        for column, (kind, nullable) in columns.items():
            sql_type, sql_nullable = found[column]
            assert sql_type in types[kind], f"{table}.{column}: schema.rs says {kind}, the database {sql_type}"
            assert sql_nullable == nullable, f"{table}.{column}: schema.rs nullable={nullable}, the database nullable={sql_nullable}"


def test_sqlite_migrations_match_the_schema(tmp_path: Path) -> None:
    migrate(f"sqlite://{tmp_path / 'schema.db'}")
    db = sqlite3.connect(tmp_path / "schema.db")
    tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    found: dict[str, dict[str, tuple[str, bool]]] = {}
    for table in tables:
        if table.startswith(("sqlite_", "__diesel")):
            continue
        # A primary key column counts as NOT NULL: the code never writes NULL
        # there (SQLite, unlike PostgreSQL, would accept one in a TEXT key).
        found[table] = {name: (kind.upper(), not notnull and not pk) for _, name, kind, notnull, _, pk in db.execute(f"PRAGMA table_info({table})")}
    compare(declared(), found, SQLITE_TYPES)


def test_postgres_migrations_match_the_schema(postgres_url: str) -> None:
    migrate(postgres_url)
    database = postgres_url.rsplit("/", 1)[1]
    rows = psql(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name NOT LIKE '\\_\\_diesel%' ORDER BY table_name, ordinal_position",
        database,
    )
    found: dict[str, dict[str, tuple[str, bool]]] = {}
    for line in rows.splitlines():
        table, column, kind, nullable = line.split("|")
        found.setdefault(table, {})[column] = (kind, nullable == "YES")
    views = set(psql("SELECT table_name FROM information_schema.views WHERE table_schema = 'public'", database).split())
    compare(declared(), {t: c for t, c in found.items() if t not in views}, POSTGRES_TYPES)


def test_a_drifted_column_is_caught() -> None:
    """The comparison fails on a column schema.rs lacks (it can fail)."""
    schema = declared()
    database = {table: {column: (next(iter(SQLITE_TYPES[kind])), nullable) for column, (kind, nullable) in columns.items()} for table, columns in schema.items()}
    compare(schema, database, SQLITE_TYPES)
    database["models"]["extra"] = ("TEXT", False)
    try:
        compare(schema, database, SQLITE_TYPES)
    except AssertionError as drift:
        assert "extra" in str(drift)
    else:
        raise AssertionError("a column missing from schema.rs went unnoticed")
