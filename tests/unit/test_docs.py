"""The README stays a front door, and the documentation's links and make targets stay real."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
# Pages another change generates; a link to them is allowed before they exist.
LINK = re.compile(r"\]\(([^)\s]+)\)")
MAKE = re.compile(r"(?<![\w./-])make[ \t]+(?:-s[ \t]+)?([a-z][a-z-]*)\b")
CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.S)


def code(page: Path) -> str:
    """The page's code: fenced blocks and inline code, where a command is shown."""
    return "\n".join(block or span for block, span in CODE.findall(page.read_text()))


def test_readme_is_a_front_door() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def relative_links(page: Path) -> list[str]:
    links = [target.split("#", 1)[0] for target in LINK.findall(page.read_text())]
    return [link for link in links if link and not re.match(r"[a-z]+:", link)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files(page: Path) -> None:
    missing = [link for link in relative_links(page)
               if not (page.parent / link).exists()]
    assert not missing, missing


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces made dashes."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_anchors_name_headings(page: Path) -> None:
    wrong = []
    for target in LINK.findall(page.read_text()):
        path, _, anchor = target.partition("#")
        if not anchor or re.match(r"[a-z]+:", path):
            continue
        linked = (page.parent / path).resolve() if path else page
        if linked.exists() and anchor not in anchors(linked):
            wrong.append(target)
    assert not wrong, wrong


def help_targets() -> set[str]:
    out = subprocess.run(["make", "-s", "--no-print-directory", "help"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines()[1:] if line.strip()}


def test_make_targets_named_in_the_docs_exist() -> None:
    targets = help_targets()
    assert {"test", "demo", "up", "invoke", "mint", "doctor"} <= targets
    named = {(page.name, target) for page in PAGES for target in MAKE.findall(code(page))}
    unknown = sorted((page, target) for page, target in named if target not in targets)
    assert not unknown, unknown
