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
undocumented. A name is compared after ``+`` becomes a space and every layer of
percent-decoding (``MAX_DECODE_ROUNDS``), stripped and in lower case; ``&`` and
``;`` both separate parameters (some servers split on either).
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
    carries a parameter OIC's runtime gives meaning to."""
    for pair in _SEPARATOR.split(query):
        name = pair.split("=", 1)[0].replace("+", " ")
        for _ in range(MAX_DECODE_ROUNDS + 1):
            if name.strip().lower() in RESERVED_QUERY_PARAMETERS:
                raise BadQuery("the query string carries a parameter OIC's runtime reads", reason="bad_query")
            decoded = unquote(name, errors="replace")
            if decoded == name:
                break
            name = decoded
