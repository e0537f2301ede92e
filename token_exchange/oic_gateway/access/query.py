"""Which query parameters may reach OIC. Pure: a query string in, ``BadQuery`` or nothing.

The path rule and the access rules decide on the path; the query string is
forwarded as sent, so a parameter that OIC's own runtime (not the
integration) reads would change what the call does without any rule seeing
it. Such parameters are refused, whatever their case or encoding:

* ``integrationInstance``: on OIC 3 it names the service instance a request on
  a shared host is for ("https://<rest-server>/<resource-path>?integrationInstance=<service-instance>",
  Send Requests, Developer API for Oracle Integration 3,
  https://docs.oracle.com/en/cloud/paas/application-integration/rest-api/SendRequests.html);
* ``wsdl``: the trigger's service description (``.../flows/soap/<I>/<V>/?wsdl``;
  shown for OIC's SOAP triggers, not in Oracle's reference).

Whether OIC's runtime reads any other parameter on a REST trigger URL is
undocumented. The whole query string is decoded again and again (``%XX``, at
most ``MAX_DECODE_ROUNDS`` times, until it stops changing; more layers are
refused), and every layer is split again on ``&`` and ``;`` (some servers split
on either), because decoding can add separators: ``x=1%26wsdl`` is
``x=1&wsdl`` to a hop that decodes once more. Each name (before the first
``=``, ``+`` read as a space, stripped) is compared in lower case; a name with
a non-ASCII character is refused outright, as Java's ``equalsIgnoreCase``
folds some of them to ASCII letters (``integrationInſtance``,
``ıntegrationInstance``).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from oic_gateway.access.paths import MAX_DECODE_ROUNDS
from oic_gateway.errors import BadQuery

# As OIC spells them (what a gateway BLOCK filter lists); compared here in lower case.
OIC_QUERY_PARAMETERS = ("integrationInstance", "wsdl")
RESERVED_QUERY_PARAMETERS = frozenset(name.lower() for name in OIC_QUERY_PARAMETERS)
_SEPARATOR = re.compile(r"[&;]")


def check_query(query: str) -> None:
    """Raise ``BadQuery`` (a fixed message) when ``query`` (without its ``?``)
    carries a parameter OIC's runtime gives meaning to, at any decoded layer."""
    layer = query
    for _ in range(MAX_DECODE_ROUNDS + 1):
        _check_layer(layer)
        decoded = unquote(layer, errors="replace")
        if decoded == layer:
            return
        layer = decoded
    raise BadQuery("the query string is encoded too many times", reason="bad_query")


def _check_layer(layer: str) -> None:
    for pair in _SEPARATOR.split(layer):
        name = pair.split("=", 1)[0].replace("+", " ").strip()
        if not name.isascii() or name.lower() in RESERVED_QUERY_PARAMETERS:
            raise BadQuery("the query string carries a parameter OIC's runtime reads", reason="bad_query")
