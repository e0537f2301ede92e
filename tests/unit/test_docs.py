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
    assert {"test", "demo", "up", "invoke", "mint", "doctor", "check-deployment"} <= targets
    named = {(page.name, target) for page in PAGES for target in MAKE.findall(code(page))}
    unknown = sorted((page, target) for page, target in named if target not in targets)
    assert not unknown, unknown


PREFLIGHT = ROOT / "docs" / "preflight.md"
PLACEHOLDERS = {"<gateway-host>", "<prefix>", "<vendor-client-id>", "<vendor-secret>", "<apigw-host>", "<domain>",
                "<oic-client-id>", "<oic-client-secret>", "<oic-primary-audience>"}


def preflight_commands() -> list[str]:
    return [line for block in re.findall(r"```sh\n(.*?)```", PREFLIGHT.read_text(), re.S)
            for line in block.splitlines() if line.strip()]


def test_preflight_commands_are_one_line_each_and_parse() -> None:
    """Each check is one command (no continuation lines), valid shell, with the page's placeholders only,
    against the gateway's https://<gateway-host>/<prefix>/ (or the identity domain's token endpoint)."""
    commands = preflight_commands()
    assert len(commands) >= 8
    for command in commands:
        assert not command.rstrip().endswith("\\"), command
        subprocess.run(["bash", "-n", "-c", command], check=True)
        assert set(re.findall(r"<[a-z-]+>", command)) <= PLACEHOLDERS, command
        for url in re.findall(r"https://[^\s']+", command):
            if "/oauth2/v1/token" not in url and "urn:opc" not in url and "oic-invoke" not in url:
                assert url.startswith("https://<gateway-host>/<prefix>/"), url


def test_preflight_is_linked_from_the_set_up_guide_and_the_readme() -> None:
    assert "(preflight.md)" in (ROOT / "docs" / "setup-oci.md").read_text()
    assert "(docs/preflight.md)" in (ROOT / "README.md").read_text()


def test_preflight_covers_the_climb_with_the_isolation_test() -> None:
    text = PREFLIGHT.read_text()
    assert "/HELLO_WORLD/1.0/%2e%2e/%2e%2e/ORDERS/1.0/x" in text
    assert "test_the_route_topologies_leave_the_path_to_the_gateway" in text
