"""What the backend does with a ``Location`` from OIC (``forwarding.location``): rewritten when it is exactly
a path the forwarder sends, passed when its host can be told apart from OIC's, dropped otherwise."""

from __future__ import annotations

import pytest

from oic_gateway.access.paths import integration_path
from oic_gateway.forwarding.location import LocationRule, LocationVerdict

OIC_HOST = "myoic-abc-fr.integration.ocp.oraclecloud.com"
GEN2 = "/ic/api/integration/v1/flows/rest"
PROJ = "/ic/api/integration/v2/flows/rest/project"
LOCATIONS = LocationRule(OIC_HOST, "/oic", GEN2, PROJ)


@pytest.mark.parametrize("location, rewritten", [
    # absolute, on OIC's host in any spelling, or on any host at all: the path decides
    (f"https://{OIC_HOST}{GEN2}/HELLO/1.0/orders/7", "/oic/HELLO/1.0/orders/7"),
    (f"HTTPS://{OIC_HOST.upper()}.:443{GEN2}/HELLO/1.0/x?a=1#f", "/oic/HELLO/1.0/x?a=1#f"),
    (f"http://u:p@{OIC_HOST}{GEN2}/HELLO/1.0/x", "/oic/HELLO/1.0/x"),
    (f"https://design.myoic.oraclecloud.com{GEN2}/HELLO/1.0/x", "/oic/HELLO/1.0/x"),
    (f"https://10.1.2.3{GEN2}/HELLO/1.0/x", "/oic/HELLO/1.0/x"),
    (f"https://partner.example{GEN2}/HELLO/1.0/x", "/oic/HELLO/1.0/x"),
    # relative, encoded, a trailing slash, a project
    (f"{GEN2}/HELLO/2.0/x/", "/oic/HELLO/2.0/x/"),  # the trailing slash kept
    (f"{GEN2}/HELLO%5FWORLD/1.0/a%40b", "/oic/HELLO_WORLD/1.0/a@b"),
    (f"{PROJ}/SALES/ORDERS/1.0/new", "/oic/project/SALES/ORDERS/1.0/new"),
    (f"https://{OIC_HOST}{PROJ}/SALES/ORDERS/1.0", "/oic/project/SALES/ORDERS/1.0"),
])
def test_a_location_into_an_integration_is_rewritten_to_the_gateway_path(location, rewritten):
    verdict = LOCATIONS.verdict(location)
    assert (verdict.value, verdict.action) == (rewritten, "rewritten")


def test_a_rewritten_location_is_what_the_gateway_forwards_back_to_the_same_oic_path():
    for prefix, path in (("", "/HELLO/1.0/x/"), ("/oic", "/project/SALES/ORDERS/1.0/new")):
        rule = LocationRule(OIC_HOST, prefix, GEN2, PROJ)
        checked = integration_path(path)
        oic_path = (GEN2 if checked.project is None else PROJ) + checked.flow_path
        assert rule.verdict(oic_path).value == prefix + path


@pytest.mark.parametrize("location", [
    # in OIC's path space, but no integration path the path rule accepts: dropped, on any host
    "/ic/home", "/ic", "/IC/home", "/ic/api/integration/v1/monitoring/instances", f"https://{OIC_HOST}/ic/home",
    "https://partner.example/ic/api/designtime/integrations", f"{GEN2.upper()}/HELLO/1.0/x",
    f"{GEN2}/HELLO", f"{GEN2}/HELLO/v1/x", f"{GEN2}/HE%2FLLO/1.0", f"{GEN2}/HELLO/1.0/%252e%252e/x",
    f"{GEN2}/HELLO/1.0/../../../monitoring", f"{GEN2}/HELLO/1.0/a;b", f"{GEN2}/project/SALES/ORDERS/1.0",
    "/x/../ic/home", "/ic;jsessionid=1/home", "//ic/home", "/%69c/home", "/%2569c/home", "/ic%2Fhome",
    f"{GEN2}/HELLO/1.0/x?back=https://{OIC_HOST}/ic",
    f"{GEN2}/HELLO/1.0/x?back=https%3A%2F%2Fidcs-1.identity.oraclecloud.com",
    # OIC's host, any spelling, and other OIC or Oracle Cloud host names
    f"https://{OIC_HOST}/x", f"HTTPS://{OIC_HOST.upper()}/x", f"https://{OIC_HOST}./x", f"https://{OIC_HOST}:443/x",
    f"https://{OIC_HOST}:8443/x", f"https://user@{OIC_HOST}/x", f"https://design.{OIC_HOST}/x",
    "https://myoic-abc-fr.integration.ocp.oraclecloud.com/", "https://other-oic.integration.eu-frankfurt-1.ocp.oraclecloud.com/",
    "https://myoic.oraclecloud.com/x", "https://oraclecloud.com/", "https://idcs-1.identity.oraclecloud.com/sso",
    "https://myoic.oraclecloud.eu/x", "https://myoic.OracleCloud.com./x",
    # an IP literal, or a number a browser reads as one
    "https://10.1.2.3/x", "http://127.0.0.1:8080/", "https://[::1]/x", "https://[fe80::1%25eth0]/", "https://0x7f.1/",
    "https://2130706433/", "https://a.0x7f/",
    # a host that cannot be parsed one way only
    "https://a@b@partner.example/", "https://partner.example@evil.example/", "http:\\\\partner.example/x",
    "https://partner.example\\@evil.example/", "https://partner.example/x y", "https://part\tner.example/",
    "https://partner.example/\x00", "https://p%61rtner.example/", "https://partner.example:99999999/",
    "https://partner.example:x/", "https://_partner.example/", "https://partnér.example/", "https:///x",
    "https:/partner.example/x",
    "//partner.example/x", "ftp://partner.example/", "javascript:alert(1)", "data:text/html,x", "HTTPX://partner.example/",
    # a relative reference outside OIC's path space (it would resolve against the gateway), and nothing
    "/home", "home", "ic/home", "?x=1", "#f", "", "   ",
    # OIC's host named elsewhere in the value, as a login redirect carries it
    f"https://login.example/sso?redirect_uri=https%3A%2F%2F{OIC_HOST}%2Fic%2Fhome",
    f"https://login.example/sso?redirect_uri=https%253A%252F%252F{OIC_HOST.upper()}",
    "https://login.example/sso?back=https://other.integration.ocp.oraclecloud.com/",
    # other Oracle realms: government, sovereign and dedicated (oraclecloud8, ...), and oraclecloudapps.com
    "https://design.integration.us-langley-1.ocp.oraclegovcloud.com/",
    "https://x.integration.ap-osaka.ocp.oraclecloud8.com/x", "https://x.integration.ocp.oraclecloud20.com/x",
    "https://x.integration.ocp.oraclegovcloud12.com/x", "https://oicinstance.oraclecloudapps.com/x",
    "https://idcs-1.identity.oraclecloud8.com/sso?redirect_uri=https%3A%2F%2Fother.integration.ap-osaka.ocp."
    "oraclecloud8.com%2Fic%2Fhome",
    "https://login.example/sso?redirect_uri=https%3A%2F%2Fother.integration.ocp.oraclecloud8.com%2Fic%2Fhome",
    "https://login.example/sso?back=https://design.integration.us-langley-1.ocp.oraclegovcloud.com/",
    "https://login.example/sso?back=https://oicinstance.oraclecloudapps.com/",
    f"{GEN2}/HELLO/1.0/x?back=https%3A%2F%2Fidcs-1.identity.oraclecloud8.com",
])
def test_a_location_oic_could_have_meant_is_dropped(location):
    verdict = LOCATIONS.verdict(location)
    assert (verdict.value, verdict.action) == (None, "dropped") and verdict.reason


@pytest.mark.parametrize("location", [
    "https://partner.example/x", "http://partner.example/", "HTTPS://Partner.Example/moved", "https://partner.example.",
    "https://partner.example:8443/x?y=1#z", "http://0.example/", "https://docs.example/ic-help/x",
    "https://partner.example/x/ic/home", "https://oracle.example/x", "https://myoraclecloudx.example/x",
    "https://oraclecloudy.example/",
])
def test_a_location_to_an_unrelated_host_passes_as_it_is(location):
    verdict = LOCATIONS.verdict(location)
    assert (verdict.value, verdict.action) == (location, "passed")


def test_a_location_under_custom_oic_prefixes_is_rewritten_or_dropped():
    rule = LocationRule("oic.corp.example", "", "/oic-rest/v1", "/oic-rest/v2/project")
    assert rule.verdict("https://any.example/oic-rest/v1/HELLO/1.0/x").value == "/HELLO/1.0/x"
    assert rule.verdict("/oic-rest/v2/project/P/I/1.0").value == "/project/P/I/1.0"
    assert rule.verdict("https://any.example/OIC-REST/v1/whatever").action == "dropped"
    assert rule.verdict(f"https://any.example{GEN2}/HELLO/1.0/x").action == "dropped"  # /ic/, but not its prefix



CORP = LocationRule("oic.corp.example", "", "/r", "/r/project")  # the project prefix below the Gen2 one


@pytest.mark.parametrize("rule, location, reason", [
    (LOCATIONS, "/ic", "location_oic_path_unmapped"),
    (LOCATIONS, "/x/../ic/home", "location_oic_path_unmapped"),
    (LOCATIONS, "/a/b/../../ic/home", "location_oic_path_unmapped"),
    (LOCATIONS, "/../ic/home", "location_oic_path_unmapped"),
    (LOCATIONS, "/ic;jsessionid=1/home", "location_oic_path_unmapped"),
    (LOCATIONS, "/x;ic/home", "location_relative"),
    (LOCATIONS, "/%69c/home", "location_oic_path_unmapped"),
    (LOCATIONS, "/%21%2F..%2Fic/home", "location_oic_path_unmapped"),  # decodes to "/!/../ic/home"
    (LOCATIONS, "https:///ic/home", "location_oic_path_unmapped"),  # no host: the path decides
    (LOCATIONS, "https:///x", "location_unparseable"),
    (LOCATIONS, f"https://{OIC_HOST}./x", "location_oic_host"),
    (LOCATIONS, "https://10.1.2.3./x", "location_ip_literal"),
    (LOCATIONS, "/home", "location_relative"),
    (LOCATIONS, "https://partner.example/x%2525252541", "location_unparseable"),  # encoded four times
    (CORP, "https://oic.corp.example/x", "location_oic_host"),
    (CORP, "https://OIC.corp.example./x", "location_oic_host"),
    (CORP, "https://design.oic.corp.example/x", "location_oic_host"),
    (CORP, "https://login.example/?back=oic%2Ecorp%2Eexample", "location_names_oic"),
    (CORP, "/r/HELLO/1.0/x?back=oic%2Ecorp%2Eexample", "location_names_oic"),
    (CORP, "/r/HELLO/1.0/x?back=x%2Eoraclecloud%2Ecom", "location_names_oic"),
])
def test_each_drop_has_its_own_reason(rule: LocationRule, location: str, reason: str) -> None:
    assert rule.verdict(location) == LocationVerdict(None, "dropped", reason)


@pytest.mark.parametrize("rule, location, rewritten", [
    (CORP, "/r/project/SALES/ORDERS/1.0", "/project/SALES/ORDERS/1.0"),  # not a Gen2 path named "project"
    (LocationRule("oic.corp.example", "", "/r", "/r/p"), "/r/p/SALES/ORDERS/1.0", "/project/SALES/ORDERS/1.0"),
    (CORP, "/r/HELLO/1.0/x?q=1", "/HELLO/1.0/x?q=1"),
])
def test_the_shape_that_maps_back_is_found_whichever_comes_first(rule: LocationRule, location: str,
                                                                  rewritten: str) -> None:
    assert rule.verdict(location) == LocationVerdict(rewritten, "rewritten", "location_oic_path")


@pytest.mark.parametrize("location", [
    "https://partner.example/x%zz", "https://partner.example/100%", "https://partner.example?/../ic/home",
    "https://partner.example#/../ic/home", "https://partner.example/-/../x", "https://partner.example/x%2541",
])
def test_these_unrelated_locations_pass_as_they_are(location: str) -> None:
    assert LOCATIONS.verdict(location) == LocationVerdict(location, "passed")


def test_an_empty_oic_host_matches_no_host() -> None:
    rule = LocationRule("", "", GEN2, PROJ)
    assert rule.verdict("https://partner.example/x") == LocationVerdict("https://partner.example/x", "passed")


def test_verdicts_and_rules_cannot_be_changed() -> None:
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        LOCATIONS.oic_host = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        LOCATIONS.verdict("/home").value = "/home"  # type: ignore[misc]


def test_the_oic_path_space_is_decoded_at_most_max_decode_rounds_times() -> None:
    """Each decoded layer is read, up to MAX_DECODE_ROUNDS decodings; a path still changing after that is OIC's."""
    from oic_gateway.access.paths import MAX_DECODE_ROUNDS

    def encoded(text: str, times: int) -> str:
        for _ in range(times):
            text = text.replace("%", "%25")
        return text

    assert LOCATIONS._in_oic_space(encoded("/h%6Fme", MAX_DECODE_ROUNDS - 1)) is False
    assert LOCATIONS._in_oic_space(encoded("/%69c/home", MAX_DECODE_ROUNDS - 1)) is True
    assert LOCATIONS._in_oic_space(encoded("/h%6Fme", MAX_DECODE_ROUNDS)) is True
    assert LOCATIONS._in_oic_space("/x%zz") is False and LOCATIONS._in_oic_space("/x%") is False


def test_full_decoding_reads_every_layer_to_the_last() -> None:
    from oic_gateway.forwarding.location import _fully_decoded

    assert _fully_decoded("%21%2541") == "!A"  # the first layer sorts before the value
    assert _fully_decoded("%2541") == "A"  # the first layer sorts after it
    assert _fully_decoded("a%zz") == "a%zz" and _fully_decoded("plain") == "plain"
    assert _fully_decoded("%252541") == "A" and _fully_decoded("%25252541") is None


@pytest.mark.parametrize("path, normal", [
    ("/a/b/", "/a/b/"), ("/a/b", "/a/b"), ("/", "/"), ("/./", "/"), ("/a/../", "/"), ("/a/-/b", "/a/-/b"),
    ("/a/!/b", "/a/!/b"), ("/a;x/b;y;z", "/a/b"), ("/x/../../y", "/y"), ("/a/./b/../c", "/a/c"), ("\\a\\b", "/a/b"),
])
def test_a_path_is_normalised_as_a_servlet_container_reads_it(path: str, normal: str) -> None:
    from oic_gateway.forwarding.location import _normalised

    assert _normalised(path) == normal


def test_an_empty_oic_prefix_maps_nothing_back() -> None:
    """With no Gen2 prefix, no path is taken for a Gen2 trigger path (``/IC/1.0/x`` is in OIC's space, any case)."""
    rule = LocationRule(OIC_HOST, "/oic", "", PROJ)
    assert rule.verdict("/IC/1.0/x") == LocationVerdict(None, "dropped", "location_oic_path_unmapped")
    assert rule.verdict(f"{PROJ}/SALES/ORDERS/1.0").value == "/oic/project/SALES/ORDERS/1.0"
