"""The one path rule (oic_gateway.access.paths), pure: a table of attacks
seen or known, a table of legitimate paths, and properties over arbitrary
input. The same rule is exercised through fdk (authorizer and backend) and
through the local gateway in test_path_rule_e2e.py."""

from __future__ import annotations

import posixpath
from urllib.parse import quote, unquote, urljoin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oic_gateway.access.paths import MAX_DECODE_ROUNDS, IntegrationPath, integration_path
from oic_gateway.errors import BadPath, TokenRejected

CLIMB_TO_DESIGN_TIME = "%2e%2e/" * 8 + "ic/api/integration/v1/integrations"

# (path, reason): every attack in issue 10, then the usual families.
ATTACKS = [
    ("/HELLO_WORLD/1.0/..;/..;/integrations", "bad_path_chars"),  # Java servlet '..;/'
    ("/HELLO_WORLD/1.0/%252e%252e/%252e%252e/x", "bad_path_encoding"),  # double-encoded dots
    ("/HELLO_WORLD/1.0/" + CLIMB_TO_DESIGN_TIME, "bad_path_traversal"),  # seen reaching design time
    ("HELLO_WORLD/1.0/" + CLIMB_TO_DESIGN_TIME, "bad_path_traversal"),  # as a path parameter (no leading /)
    ("/HELLO_WORLD/1.0/../../../ic/api/integration/v1/integrations", "bad_path_traversal"),
    ("/HELLO_WORLD/1.0/./x", "bad_path_traversal"),
    ("/HELLO_WORLD/..", "bad_path_traversal"),
    ("/../HELLO_WORLD/1.0/x", "bad_path_traversal"),
    ("/HELLO_WORLD/1.0/%2E%2E/x", "bad_path_traversal"),
    ("/HELLO_WORLD/1.0/.%2e/x", "bad_path_traversal"),
    ("/HELLO_WORLD/1.0/%2e./x", "bad_path_traversal"),
    ("/HELLO_WORLD/1.0/%25252e%25252e/x", "bad_path_encoding"),  # triple encoding
    ("/HELLO_WORLD/1.0/a%2Fb", "bad_path_encoding"),  # encoded /
    ("/HELLO_WORLD/1.0/a%2fb", "bad_path_encoding"),
    ("/HELLO_WORLD/1.0/..%2F..%2Fx", "bad_path_encoding"),
    ("/HELLO_WORLD/1.0/a%5Cb", "bad_path_encoding"),  # encoded \
    ("/HELLO_WORLD/1.0/..\\..\\x", "bad_path_chars"),
    ("/HELLO_WORLD/1.0/a%00b", "bad_path_encoding"),  # encoded NUL
    ("/HELLO_WORLD/1.0/a\x00b", "bad_path_chars"),
    ("/HELLO_WORLD/1.0/a%0d%0aX-Injected:%201", "bad_path_chars"),  # CRLF
    ("/HELLO_WORLD/1.0/a;jsessionid=1", "bad_path_chars"),
    ("/HELLO_WORLD/1.0/a%3Bb", "bad_path_chars"),  # encoded ;
    ("/HELLO_WORLD/1.0/100%25", "bad_path_encoding"),  # encoded %
    ("//evil.example/HELLO_WORLD/1.0/x", "bad_path_url"),  # scheme-relative
    ("\\\\evil.example/x", "bad_path_url"),
    ("%2F%2Fevil.example/HELLO_WORLD/1.0/x", "bad_path_encoding"),
    ("http://evil.example/HELLO_WORLD/1.0/x", "bad_path_url"),  # absolute
    ("/https:/evil.example/1.0/x", "bad_path_url"),
    ("javascript:alert(1)/1.0", "bad_path_url"),
    ("/HELLO_WORLD//1.0/x", "bad_path_traversal"),  # empty segment
    ("/HELLO_WORLD/1.0//x", "bad_path_traversal"),
    ("/HELLO WORLD/1.0/x", "bad_path_shape"),
    ("/HELLO_WORLD", "bad_path_shape"),  # no version
    ("/HELLO_WORLD/latest/x", "bad_path_shape"),
    ("/HELLO_WORLD/1.0./x", "bad_path_shape"),
    ("/_HELLO/1.0/x", "bad_path_shape"),
    ("/HELLO_WORLD/1.0/caf%C3%A9", "bad_path_chars"),  # non-ASCII
    ("/HELLO_WORLD/1.0/a%ff", "bad_path_encoding"),  # not UTF-8
    ("/HELLO_WORLD/1.0/<script>", "bad_path_chars"),
    ("/HELLO_WORLD/1.0/a?b", "bad_path_chars"),  # a query has no place in a path
    ("/HELLO_WORLD/1.0/a#b", "bad_path_chars"),
    ("", "bad_path"),
    ("/", "bad_path_traversal"),
    ("/HELLO_WORLD/1.0/" + "a/" * 40, "bad_path_shape"),
    ("/HELLO_WORLD/1.0/" + "a" * 3000, "bad_path"),
]


def in_project(path: str) -> str:
    """The same attack on an OIC 3 integration inside a project."""
    return path.replace("HELLO_WORLD", "project/PROJ/HELLO_WORLD", 1)


# Every attack again in the project shape, then escapes through the project's own segments.
PROJECT_ATTACKS = [(in_project(path), reason) for path, reason in ATTACKS if "HELLO_WORLD" in path] + [
    ("/project/../HELLO_WORLD/1.0/x", "bad_path_traversal"),
    ("/project/%2e%2e/HELLO_WORLD/1.0/x", "bad_path_traversal"),
    ("/project/PROJ/../../v1/integrations", "bad_path_traversal"),
    ("/project/PROJ/%2e%2e/%2e%2e/%2e%2e/v1/integrations", "bad_path_traversal"),
    ("/project/" + CLIMB_TO_DESIGN_TIME, "bad_path_traversal"),
    ("/project/PROJ%2FX/HELLO_WORLD/1.0/x", "bad_path_encoding"),
    ("/project/PROJ%252FX/HELLO_WORLD/1.0/x", "bad_path_encoding"),
    ("/project/PROJ%5CX/HELLO_WORLD/1.0/x", "bad_path_encoding"),
    ("/project/PROJ\\X/HELLO_WORLD/1.0/x", "bad_path_chars"),
    ("/project/PROJ;x=1/HELLO_WORLD/1.0/x", "bad_path_chars"),
    ("/project//HELLO_WORLD/1.0/x", "bad_path_traversal"),
    ("/project/PROJ//HELLO_WORLD/1.0/x", "bad_path_traversal"),
    ("/project/http:/evil.example/1.0/x", "bad_path_shape"),
    ("/project/PROJ X/HELLO_WORLD/1.0/x", "bad_path_shape"),
    ("/project/_PROJ/HELLO_WORLD/1.0/x", "bad_path_shape"),
    ("/project/PROJ/HELLO_WORLD/latest/x", "bad_path_shape"),
    ("/project/PROJ/HELLO_WORLD", "bad_path_shape"),  # no version
    ("/project/PROJ/HELLO_WORLD/", "bad_path_shape"),
    ("/project/PROJ", "bad_path_shape"),
    ("/project", "bad_path_shape"),
    ("/project/1.0/x", "bad_path_shape"),  # an integration called 'project': the name is reserved
    ("/project/1.0/x/y", "bad_path_shape"),  # ... and 'x' is no version
    ("/PROJECT/1.0/x", "bad_path_shape"),  # any other spelling of the reserved segment
    ("/Project/PROJ/HELLO_WORLD/1.0/x", "bad_path_shape"),
    ("/%50ROJECT/1.0/x", "bad_path_shape"),
    ("/project/PROJ/HELLO_WORLD/1.0/caf%C3%A9", "bad_path_chars"),
    ("/project/caf%C3%A9/HELLO_WORLD/1.0/x", "bad_path_shape"),
]

# (path, canonical)
LEGITIMATE = [
    ("/HELLO_WORLD/1.0/hello", "/HELLO_WORLD/1.0/hello"),
    ("HELLO_WORLD/1.0/hello", "/HELLO_WORLD/1.0/hello"),  # a path parameter has no leading /
    ("/HELLO_WORLD/1.0", "/HELLO_WORLD/1.0"),
    ("/HELLO_WORLD/1.0/", "/HELLO_WORLD/1.0"),  # decided without the trailing slash, forwarded with it
    ("/HELLO_WORLD/2.0/orders/42/", "/HELLO_WORLD/2.0/orders/42"),
    ("/HELLO_WORLD/10.0/x", "/HELLO_WORLD/10.0/x"),
    ("/HELLO_WORLD/0.0/x", "/HELLO_WORLD/0.0/x"),
    ("/OUTL-BA-CCB_STREAM_NOTIF_UPLOAD/1.0/notifications", "/OUTL-BA-CCB_STREAM_NOTIF_UPLOAD/1.0/notifications"),
    ("/ORDERS/2.0/orders/A-1_b.c~d/items", "/ORDERS/2.0/orders/A-1_b.c~d/items"),
    ("/ORDERS/1.0/user@example.com/x:y", "/ORDERS/1.0/user@example.com/x:y"),
    ("/ORDERS/1.0/user%40example.com", "/ORDERS/1.0/user@example.com"),  # percent-encoded allowed character
    ("/ORDERS/1.0/a.b/..c/c..", "/ORDERS/1.0/a.b/..c/c.."),  # dots inside a segment are not dot segments
    ("/ORDERS/1.0/filter=a,b&c=(d)+e!$*'", "/ORDERS/1.0/filter=a,b&c=(d)+e!$*'"),
    ("/project/SALES/ORDERS/1.0/orders/42", "/project/SALES/ORDERS/1.0/orders/42"),
    ("project/SALES/ORDERS/1.0/orders/42", "/project/SALES/ORDERS/1.0/orders/42"),
    ("/project/SALES/ORDERS/1.0", "/project/SALES/ORDERS/1.0"),
    ("/project/SALES/ORDERS/1.0/", "/project/SALES/ORDERS/1.0"),
    ("/project/OUTL-BA-NOTIFICATIONS_HUB/OUTL-BA-NMS_STREAM_NOTIF_UPL/1.0/NMS/Outages",
     "/project/OUTL-BA-NOTIFICATIONS_HUB/OUTL-BA-NMS_STREAM_NOTIF_UPL/1.0/NMS/Outages"),
    ("/project/P/PROJECT/1.0/x", "/project/P/PROJECT/1.0/x"),  # an integration 'PROJECT' inside a project
    ("/%70roject/SALES/ORDERS/1.0/x", "/project/SALES/ORDERS/1.0/x"),  # an encoded letter decodes as usual
    ("/project/SALES/ORDERS/1.0/user%40example.com", "/project/SALES/ORDERS/1.0/user@example.com"),
]


# Refused here; a gateway may merge the leading '//' of its route into one '/' (then it is the legitimate path).
RULE_ONLY_ATTACKS = [("//project/PROJ/HELLO_WORLD/1.0/x", "bad_path_url"), ("//HELLO_WORLD/1.0/x", "bad_path_url")]


@pytest.mark.parametrize("path, reason", ATTACKS + PROJECT_ATTACKS + RULE_ONLY_ATTACKS,
                         ids=[repr(a[0])[:60] for a in ATTACKS + PROJECT_ATTACKS + RULE_ONLY_ATTACKS])
def test_attacks_are_refused_with_a_reason(path: str, reason: str) -> None:
    with pytest.raises(BadPath) as refused:
        integration_path(path)
    assert refused.value.reason == reason
    assert isinstance(refused.value, TokenRejected) and refused.value.oauth_error == "invalid_request"
    assert path not in str(refused.value) or not path  # fixed messages: never the caller's text


@pytest.mark.parametrize("path, canonical", LEGITIMATE, ids=[p for p, _ in LEGITIMATE])
def test_legitimate_paths_pass_in_canonical_form(path: str, canonical: str) -> None:
    checked = integration_path(path)
    assert checked.canonical == canonical
    assert integration_path(checked.request_path) == checked  # the canonical path as sent is a fixed point
    assert checked.request_path.removesuffix("/") == checked.canonical
    assert checked.flow_path.endswith("/") == path.endswith("/")  # forwarded as sent


# Issue 17 §9: spellings OIC may serve as the same resource. Refused, never decided by a later rule.
NON_CANONICAL = [
    ("/ORDERS/01.00/new", "bad_path_version"),
    ("/ORDERS/1.00.0000/new", "bad_path_version"),
    ("/ORDERS/01.00.0000/new", "bad_path_version"),
    ("/ORDERS/1/new", "bad_path_version"),
    ("/ORDERS/1.0.0/new", "bad_path_version"),
    ("/ORDERS/1.00/new", "bad_path_version"),
    ("/ORDERS/%30%31.00/new", "bad_path_version"),  # encoded digits decode to 01.00
    # OIC serves one minor per major at MAJOR.0 (1.1.0 at /HELLO_WORLD/1.0/): any other minor would alias it,
    # so /ORDERS/1.1/new must not slip past a rule for /ORDERS/1.0/* to a later catch-all.
    ("/ORDERS/1.1/new", "bad_path_version"),
    ("/ORDERS/2.1/orders/42", "bad_path_version"),
    ("/ORDERS/1.10/new", "bad_path_version"),
    ("/ORDERS/1.%31/new", "bad_path_version"),  # an encoded digit decodes to 1.1
    ("/orders/1.0/new", "bad_path_case"),
    ("/Orders/1.0/new", "bad_path_case"),
    ("/%6Frders/1.0/new", "bad_path_case"),  # an encoded lower-case letter
    ("/payroll/1.0/run", "bad_path_case"),
    ("/project/sales/ORDERS/1.0/new", "bad_path_case"),
    ("/project/SALES/orders/1.0/new", "bad_path_case"),
    ("/project/SALES/ORDERS/01.00/new", "bad_path_version"),
    ("/project/SALES/ORDERS/1.00.0000/new", "bad_path_version"),
    ("/project/SALES/ORDERS/1.1/new", "bad_path_version"),
]


@pytest.mark.parametrize("path, reason", NON_CANONICAL, ids=[p for p, _ in NON_CANONICAL])
def test_non_canonical_spellings_are_refused(path: str, reason: str) -> None:
    with pytest.raises(BadPath) as refused:
        integration_path(path)
    assert refused.value.reason == reason
    assert isinstance(refused.value, TokenRejected) and refused.value.oauth_error == "invalid_request"


def test_a_trailing_slash_is_decided_on_the_path_without_it() -> None:
    checked = integration_path("/ORDERS/1.0/new/")
    assert checked.canonical == integration_path("/ORDERS/1.0/new").canonical == "/ORDERS/1.0/new"
    assert checked.flow_path == "/ORDERS/1.0/new/" and checked.request_path == "/ORDERS/1.0/new/"
    project = integration_path("/project/SALES/ORDERS/1.0/new/")
    assert project.canonical == "/project/SALES/ORDERS/1.0/new" and project.flow_path == "/SALES/ORDERS/1.0/new/"


def test_the_two_shapes_name_different_resources() -> None:
    gen2 = integration_path("/ORDERS/1.0/new")
    project = integration_path("/project/SALES/ORDERS/1.0/new")
    assert gen2.project is None and gen2.flow_path == gen2.canonical == "/ORDERS/1.0/new"
    assert gen2.oic_api_path == "/v1/flows/rest/ORDERS/1.0/new"
    assert project == IntegrationPath("ORDERS", "1.0", ("new",), project="SALES")
    assert project.flow_path == "/SALES/ORDERS/1.0/new" and project.canonical == "/project/SALES/ORDERS/1.0/new"
    assert project.oic_api_path == "/v2/flows/rest/project/SALES/ORDERS/1.0/new"
    assert gen2 != project and gen2.canonical != project.canonical


def test_encoding_layers_are_bounded() -> None:
    deep = "x"
    for _ in range(MAX_DECODE_ROUNDS + 1):
        deep = quote(deep, safe="")
    # 'x' never needs encoding: build a layered '%' instead.
    layered = "%41"
    for _ in range(MAX_DECODE_ROUNDS):
        layered = layered.replace("%", "%25")
    with pytest.raises(BadPath):
        integration_path("/HELLO/1.0/" + layered)


OIC_FLOWS = "https://oic.example/ic/api/integration/v1/flows/rest/"
path_text = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(["project", "PROJ", "HELLO_WORLD", "1.0", "..", ".", "%2e", "%2E%2e", "%252e", "%2f",
                              "%5c", ";", "", "a", "%25", "%00", "\\", "http:", "~", "%2e%2e%2f", "..;", "@", ":"]),
             min_size=1, max_size=10).map("/".join),
    st.lists(st.sampled_from(["HELLO_WORLD", "1.0", ".", "%", "2", "e", "f", "5", "c", "/", ";", "\\", "a"]),
             min_size=1, max_size=24).map("".join),
)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(path_text)
def test_no_accepted_path_leaves_the_flows_prefix_however_often_it_is_decoded(path: str) -> None:
    """Whatever is accepted stays under /flows/rest/[project/<PROJECT>/]<INTEGRATION>/<VERSION>/
    after any number of decodings and a URL library's dot-segment removal."""
    try:
        checked = integration_path(path)
    except BadPath:
        return
    head = ("" if checked.project is None else f"project/{checked.project}/") + checked.integration
    text = path
    for _ in range(MAX_DECODE_ROUNDS + 2):
        url = urljoin(OIC_FLOWS, text.lstrip("/"))  # RFC 3986 reference resolution removes dot segments
        assert url.startswith(OIC_FLOWS + head + "/" + checked.version)
        normalised = posixpath.normpath("/flows/" + text.lstrip("/"))
        assert normalised.startswith("/flows/" + head)
        assert ";" not in text and "\\" not in text and "\x00" not in text
        text = unquote(text)
    assert integration_path(checked.request_path) == checked


@pytest.mark.parametrize("path", ["/SALES/1.0/x", "/ZETA_ORDERS/2.0/y", "/PROJECTS/1.0/x", "/Q/1.0/x"])
def test_a_first_segment_that_only_sorts_after_project_is_an_integration(path):
    parsed = integration_path(path)
    assert parsed.project is None and parsed.integration == path.split("/")[1]


@pytest.mark.parametrize("path", ["/project/SALES/QUOTE", "/project/SALES", "/project"])
def test_a_project_path_needs_its_project_integration_and_version(path):
    with pytest.raises(BadPath) as refused:
        integration_path(path)
    assert refused.value.reason == "bad_path_shape"
    assert "a project path needs PROJECT, INTEGRATION and VERSION" in str(refused.value)  # not the generic shape
