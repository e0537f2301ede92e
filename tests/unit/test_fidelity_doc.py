"""docs/oci-fidelity.md cannot go stale: every test a row names exists, and every
construct the shipped JSON and Terraform use has a row."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "oci-fidelity.md"
HEADER = re.compile(r"^\| (construct|behaviour) \| what OCI documents \|")
TEST_REF = re.compile(r"^(tests/[\w/]+\.py)?(?:::(\w+))?$")
CONTEXT = re.compile(r"\b(request\.[a-z]+)\[")


def rows() -> list[list[str]]:
    """Every row of the page's tables (construct, OCI, local, shown by)."""
    out, in_table = [], False
    for line in PAGE.read_text().splitlines():
        if HEADER.match(line):
            in_table = True
            continue
        if in_table and line.startswith("|---"):
            continue
        if in_table and line.startswith("|"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            assert len(cells) == 4, line
            out.append(cells)
        else:
            in_table = False
    return out


def spans(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def table_words() -> set[str]:
    """Every identifier-like word inside a backticked span of a row."""
    return {word for row in rows() for cell in row for span in spans(cell)
            for word in re.findall(r"[A-Za-z_][\w.-]*", span)}


def test_the_page_has_its_four_tables() -> None:
    assert len(rows()) >= 40
    assert sum(bool(HEADER.match(line)) for line in PAGE.read_text().splitlines()) == 4


def named_tests() -> list[tuple[str, str | None]]:
    """(file, test or None) for every test a "shown by" cell names; ``::name`` continues the last file."""
    out: list[tuple[str, str | None]] = []
    for row in rows():
        current = None
        for span in spans(row[3]):
            match = TEST_REF.match(span.split(" ")[0])
            if match is None or not (match.group(1) or match.group(2)):
                continue
            current = match.group(1) or current
            assert current is not None, f"{span!r} names no file: {row[0]}"
            out.append((current, match.group(2)))
    return out


def test_every_named_test_exists() -> None:
    named = named_tests()
    assert len(named) > 60
    missing = []
    for file, test in named:
        path = ROOT / file
        if not path.exists():
            missing.append(file)
        elif test is not None and not re.search(rf"^(?:async )?def {test}\(", path.read_text(), re.M):
            missing.append(f"{file}::{test}")
    assert not missing, missing


def test_every_row_names_a_test_or_says_why_not() -> None:
    """A row without a test is an undocumented limit nobody can observe locally, shown as "—"."""
    bare = [row[0] for row in rows() if not named_tests_in(row[3])
            and not (row[3] == "—" and "**undocumented**" in row[1])]
    assert not bare, bare


def named_tests_in(cell: str) -> bool:
    return any(span.startswith("tests/") for span in spans(cell))


def walk(node: Any, keys: set[str], values: set[str], tables: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if not key.startswith("<"):  # a placeholder used as a map key (an OCID)
                keys.add(key)
            if key in ("type", "ifExists", "operationOnBreach") and isinstance(value, str):
                values.add(value)
            if key == "methods":
                values.update(value)
            walk(value, keys, values, tables)
    elif isinstance(node, list):
        for item in node:
            walk(item, keys, values, tables)
    elif isinstance(node, str):
        tables.update(CONTEXT.findall(node))


def test_every_key_and_value_of_the_shipped_json_has_a_row() -> None:
    keys: set[str] = set()
    values: set[str] = set()
    tables: set[str] = set()
    for path in sorted((ROOT / "deploy").glob("*.json")):
        walk(json.loads(path.read_text()), keys, values, tables)
    assert {"cacheKey", "filterHeaders", "tokenLocations", "ORACLE_FUNCTIONS_BACKEND"} <= keys | values
    words = table_words()
    missing = sorted((keys | values | tables) - words)
    assert not missing, f"no row of docs/oci-fidelity.md names {missing}"


def terraform() -> str:
    return "\n".join(path.read_text() for path in sorted((ROOT / "deploy" / "terraform").glob("*.tf")))


def test_every_terraform_resource_and_gateway_attribute_has_a_row() -> None:
    text = terraform()
    resources = set(re.findall(r'^resource "(\w+)"', text, re.M))
    assert {"oci_apigateway_deployment", "oci_functions_function", "oci_vault_secret"} <= resources
    attributes: set[str] = set()
    for kind in ("oci_apigateway_gateway", "oci_apigateway_deployment"):
        body = text.split(f'resource "{kind}"', 1)[1].split("\nresource ", 1)[0]
        attributes |= set(re.findall(r"^  (\w+)\s*(?:=|\{)", body, re.M))
    words = table_words()
    missing = sorted((resources | attributes) - words)
    assert not missing, f"no row of docs/oci-fidelity.md names {missing}"


def test_undocumented_behaviours_are_marked() -> None:
    """A row that says a behaviour is not documented uses the one word, in bold."""
    for row in rows():
        if re.search(r"not documented|no Oracle source", row[1]):
            assert "**undocumented**" in row[1], row[0]
