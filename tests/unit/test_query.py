"""Which query parameters may reach OIC (``access.query``): names OIC's runtime
reads are refused at every decoded layer of the whole query string."""

from __future__ import annotations

import pytest

from oic_gateway.access.query import check_query
from oic_gateway.errors import BadQuery

REFUSED = [
    "integrationInstance=other",
    "a=1&INTEGRATIONINSTANCE=x",
    "a=1;wsdl",
    "integration%49nstance=other",
    "integration%2549nstance=other",
    "+integrationInstance+=x",
    # Decoding can add separators: each decoded layer of the whole string is split again.
    "x%26integrationInstance=foo",
    "x=1%26integrationInstance%3Dfoo",
    "wsdl%3D1",
    "x=1%3Bwsdl",
    "x=1%253Bwsdl",
    "x=1%2526integrationInstance%253Dfoo",
    # Java's equalsIgnoreCase folds these to ASCII letters: a non-ASCII name is refused.
    "integrationIn\u017ftance=x",
    "\u0131ntegrationInstance=x",
    "integrationIn%C5%BFtance=x",
    "%C4%B1ntegrationInstance=x",
    "caf%C3%A9=1",
    "w\u017fdl=1",
]

PASSED = [
    "",
    "a=1&b=2",
    "instance=a&integrationInstanceId=b",
    "q=integrationInstance",  # a value, not a name
    "q=caf%C3%A9",  # non-ASCII in a value
    "q=a%20b&r=%2Fx",
    "wsdlx=1",
]


@pytest.mark.parametrize("query", REFUSED)
def test_names_oic_reads_are_refused_at_every_layer(query: str) -> None:
    with pytest.raises(BadQuery) as refused:
        check_query(query)
    assert refused.value.reason == "bad_query" and query not in str(refused.value)


@pytest.mark.parametrize("query", PASSED)
def test_the_integrations_own_parameters_pass(query: str) -> None:
    check_query(query)


def test_a_query_encoded_too_many_times_is_refused() -> None:
    deep = "wsdl=1"
    for _ in range(6):
        deep = deep.replace("%", "%25").replace("=", "%3D")
    with pytest.raises(BadQuery):
        check_query("x=1%26" + deep)


def _encoded(text: str, times: int) -> str:
    for _ in range(times):
        text = text.replace("%", "%25").replace("=", "%3D").replace("&", "%26")
    return text


def test_the_decoding_limit_is_exact() -> None:
    """A query encoded MAX_DECODE_ROUNDS times is read to its last layer; once more is refused."""
    from oic_gateway.access.paths import MAX_DECODE_ROUNDS

    check_query("x=1%26" + _encoded("a=1", MAX_DECODE_ROUNDS - 1))  # MAX_DECODE_ROUNDS decodings to plain text
    check_query(_encoded("x=1&a=2", MAX_DECODE_ROUNDS))
    with pytest.raises(BadQuery, match="encoded too many times"):
        check_query(_encoded("x=1&a=2", MAX_DECODE_ROUNDS + 1))
    with pytest.raises(BadQuery, match="parameter OIC's runtime reads"):
        check_query(_encoded("x=1&wsdl", MAX_DECODE_ROUNDS))  # found in the last layer read


@pytest.mark.parametrize("query", ["discount=100%", "a=%zz", "a=%", "q=50%25off%"])
def test_a_percent_that_decodes_to_nothing_new_passes(query: str) -> None:
    check_query(query)  # unquote leaves it as it is: the query has stopped changing


def test_every_decoded_layer_is_checked_whatever_it_sorts_before() -> None:
    # "%21" decodes to "!", which sorts before "%": the decoded layer is still read.
    with pytest.raises(BadQuery):
        check_query("%21%26wsdl")
