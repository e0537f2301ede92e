"""The path rule's limits at their exact boundaries and its decoding rounds
(beside test_paths' tables of attacks and legitimate paths)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from oic_gateway.access.paths import (
    MAX_DECODE_ROUNDS,
    MAX_PATH_CHARS,
    MAX_REST_SEGMENTS,
    IntegrationPath,
    integration_path,
)
from oic_gateway.errors import BadPath


def refused(raw: str) -> str:
    with pytest.raises(BadPath) as caught:
        integration_path(raw)
    return str(caught.value)


def test_length_limit_is_exact():
    assert MAX_PATH_CHARS == 2048
    longest = "/A/1.0" + ("/" + "x" * 255) * 7 + "/" + "y" * 249
    assert len(longest) == 2048 and integration_path(longest).rest[-1] == "y" * 249
    assert refused(longest + "y") == "the path is too long"


def test_segment_count_limit_is_exact():
    assert MAX_REST_SEGMENTS == 32
    assert len(integration_path("/A/1.0" + "/x" * 32).rest) == 32
    assert refused("/A/1.0" + "/x" * 33) == "the path has too many segments"


def test_decoding_rounds_are_bounded_at_four():
    assert MAX_DECODE_ROUNDS == 4

    def encoded(times: int) -> str:
        segment = "~"
        for _ in range(times):
            segment = quote(segment, safe="")
            segment = segment if segment != "~" else "%7E"
        return "/A/1.0/" + segment

    # Three encodings settle within the rounds (and are refused for their %25);
    # four do not settle within them.
    assert refused(encoded(3)) == "an encoded '/', '\\', '%' or NUL in the path"
    assert refused(encoded(4)) == "the path is encoded too many times"
    assert integration_path(encoded(1)).canonical == "/A/1.0/~"


def test_each_round_decodes_the_previous_one():
    # "!" sorts before "%": a decoded layer can be "smaller" and still be new.
    assert integration_path("/A/1.0/%21x").canonical == "/A/1.0/!x"
    assert integration_path("/A/1.0/%24%26").canonical == "/A/1.0/$&"


def test_no_trailing_slash_unless_the_caller_sent_one():
    assert IntegrationPath("A", "1.0", ()).canonical == "/A/1.0"
    assert integration_path("/A/1.0/x").trailing_slash is False
    assert integration_path("/A/1.0/x/").canonical == "/A/1.0/x"  # rules see it without the slash
    assert integration_path("/A/1.0/x/").flow_path == "/A/1.0/x/"  # OIC gets it as sent


def test_a_percent_that_decodes_to_nothing_new_is_a_bad_character_not_an_encoding():
    with pytest.raises(BadPath) as caught:
        integration_path("/A/1.0/%zz")
    assert caught.value.reason == "bad_path_chars"


@pytest.mark.parametrize("raw", ["/A/1.0/x%01y", "/A/1.0/x%0Ay", "/A/1.0/x%7Fy"])
def test_a_control_character_is_refused_as_such(raw):
    assert refused(raw) == "a backslash or control character in the path"


def test_a_checked_path_cannot_be_changed():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        integration_path("/A/1.0/x").integration = "B"  # type: ignore[misc]
