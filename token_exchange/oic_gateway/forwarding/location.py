"""What the backend does with a ``Location`` from OIC: what a reverse proxy's
``ProxyPassReverse`` does, and no more trusting.

An OIC instance answers on more than one host name (its runtime host, design
time, a custom endpoint, ``*.integration.ocp.oraclecloud.com``), so "is it
OIC's host?" cannot be decided by comparing with ``OIC_BASE_URL``. The path
can: a ``Location`` whose path lies in OIC's path space (``/ic/``, or under
``OIC_PATH_PREFIX``/``OIC_PROJECT_PATH_PREFIX``), on whatever host or none,
is

* **rewritten** to the gateway's own path, as a reference without a host,
  when it is exactly what the forwarder would send to OIC for a gateway path
  the path rule (``access.paths``) accepts: the inverse of ``_target_url``;
* **dropped** otherwise.

Any other ``Location`` is dropped unless it is an absolute ``http(s)`` URL,
parsed one way only, on a host that can be told apart from OIC's: not OIC's
host or one below it, not an IP literal (nor a number a WHATWG parser reads
as IPv4), no Oracle Cloud label in the host (``oraclecloud``,
``oraclegovcloud``, with or without digits: ``oraclecloud8``; ``oraclecloudapps``), no userinfo (RFC 9110
4.2.4: never generated), no percent-encoding, backslash, control character,
space or non-ASCII anywhere, and OIC's host (or such an Oracle Cloud domain) nowhere in
the value, decoded or not (a login redirect carries OIC's URL in its query).
A relative reference that is not rewritten is dropped (it would resolve
against the gateway), and so is a scheme-relative ``//host``.

Pure: a string in, a ``LocationVerdict`` out. The reason codes go to the log;
the value never does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from oic_gateway.access.paths import MAX_DECODE_ROUNDS, PROJECT_SEGMENT, integration_path
from oic_gateway.errors import BadPath

OIC_PATH_SPACE = "/ic"  # OIC's runtime and design-time APIs, its console: all below /ic/

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Printable ASCII without space, backslash, or the characters no URI has.
_URI_CHARS = re.compile(r"[!#$%&'()*+,\-./0-9:;=?@A-Z\[\]_a-z~]+")
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")  # WHATWG: a last label like this makes the host IPv4
_PORT = re.compile(r"[0-9]{0,5}")
# Oracle Cloud's domains in every realm: oraclecloud.com, government (oraclegovcloud.com, .uk...), the sovereign
# and dedicated realms (oraclecloud8.com, oraclecloud20.com, ...), and oraclecloudapps.com.
_ORACLE_LABEL = re.compile(r"oracle(?:gov)?cloud(?:[0-9]*|apps)")
_ORACLE_DOMAIN = re.compile(r"oracle(?:gov)?cloud(?:[0-9]*|apps)\.")


@dataclass(frozen=True)
class LocationVerdict:
    value: str | None  # what the caller gets: the value, its rewrite, or None (dropped)
    action: str  # "passed", "rewritten" or "dropped"
    reason: str = ""  # for the log, when rewritten or dropped


@dataclass(frozen=True)
class LocationRule:
    oic_host: str  # OIC_BASE_URL's host, lower case, without a trailing dot
    gateway_path_prefix: str
    oic_path_prefix: str
    oic_project_path_prefix: str

    def verdict(self, location: str) -> LocationVerdict:
        value = location.strip()
        if not value or not _URI_CHARS.fullmatch(value):
            return _dropped("location_unparseable")
        decoded = _fully_decoded(value)
        if decoded is None:
            return _dropped("location_unparseable")
        split = self._split(value)
        if isinstance(split, str):
            return _dropped(split)  # it cannot be split one way only
        path, query, host = split
        if self._in_oic_space(path):
            rewritten = self._rewritten(path)
            if rewritten is None:
                return _dropped("location_oic_path_unmapped")
            if self._names_oic(query):
                return _dropped("location_names_oic")
            return LocationVerdict(rewritten + query, "rewritten", "location_oic_path")
        if host is None:
            return _dropped("location_relative")
        refused = self._refused_host(host)
        if refused:
            return _dropped(refused)
        if self._names_oic(decoded):
            return _dropped("location_names_oic")
        return LocationVerdict(value, "passed")

    def _names_oic(self, text: str) -> bool:
        """OIC's host, or an Oracle Cloud host, anywhere in ``text``, decoded or not."""
        folded = (_fully_decoded(text) or text).lower()
        return self._oic_host in folded or _ORACLE_DOMAIN.search(folded) is not None

    @staticmethod
    def _split(value: str) -> tuple[str, str, str | None] | str:
        """``(path, query-and-fragment, authority)``, the authority ``None`` for a
        path-absolute reference; the reason when it cannot be split one way only."""
        scheme = _SCHEME.match(value)
        host: str | None = None
        rest = value
        if scheme:
            if scheme.group(1).lower() not in ("http", "https"):
                return "location_scheme"
            rest = value[scheme.end():]
            if not rest.startswith("//"):
                return "location_unparseable"
            rest = rest[2:]
            end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
            host, rest = rest[:end], rest[end:]
        elif value.startswith("//"):
            return "location_scheme_relative"
        elif not value.startswith("/"):
            return "location_relative"
        end = min((i for i in (rest.find(c) for c in "?#") if i >= 0), default=len(rest))
        path, tail = rest[:end] or "/", rest[end:]
        return path, tail, host

    def _in_oic_space(self, path: str) -> bool:
        """Under /ic/ (any case), or under either OIC prefix, in any decoded layer,
        with dot segments resolved, empty segments collapsed and ``;`` parameters
        cut (as a servlet container reads ``/ic;x/``)."""
        spaces = {OIC_PATH_SPACE, self.oic_path_prefix.lower(), self.oic_project_path_prefix.lower()} - {""}
        layer = path
        for _ in range(MAX_DECODE_ROUNDS + 1):
            normal = _normalised(layer).lower()
            if any(normal == space or normal.startswith(space + "/") for space in spaces):
                return True
            decoded = unquote(layer)
            if decoded == layer:
                return False
            layer = decoded
        return True  # encoded more often than anyone decodes: treated as OIC's

    def _rewritten(self, path: str) -> str | None:
        """The gateway path whose forwarded OIC path is exactly ``path``, or None."""
        shapes = ((self.oic_path_prefix, ""), (self.oic_project_path_prefix, "/" + PROJECT_SEGMENT))
        for prefix, head in shapes:
            if not prefix or not path.startswith(prefix + "/"):
                continue
            candidate = head + path[len(prefix):]
            try:
                checked = integration_path(candidate)
            except BadPath:
                continue
            if (checked.project is None) != (head == ""):
                continue  # a Gen2 path whose first segment is "project": not what the forwarder sends
            if prefix + checked.flow_path != unquote(path):
                continue  # defence in depth: the path rule's flow_path is this path, decoded
            return self.gateway_path_prefix + checked.request_path
        return None

    def _refused_host(self, authority: str) -> str:
        """The reason a host cannot be told apart from OIC's, or ""."""
        if "@" in authority:
            return "location_userinfo"
        if authority.startswith("["):
            return "location_ip_literal"
        host, _, port = authority.partition(":")
        if not _PORT.fullmatch(port):
            return "location_unparseable"
        host = host.lower()
        if host.endswith("."):
            host = host[:-1]
        if not host or not _HOST.fullmatch(host):
            return "location_unparseable"
        if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
            return "location_ip_literal"
        if host == self._oic_host or host.endswith("." + self._oic_host):
            return "location_oic_host"
        if any(_ORACLE_LABEL.fullmatch(label) for label in host.split(".")):
            return "location_oic_host"
        return ""

    @property
    def _oic_host(self) -> str:
        return self.oic_host.lower().rstrip(".") or "\x00"


def _dropped(reason: str) -> LocationVerdict:
    return LocationVerdict(None, "dropped", reason)


def _fully_decoded(value: str) -> str | None:
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = unquote(value)
        if decoded == value:
            return value
        value = decoded
    return None


def _normalised(path: str) -> str:
    out: list[str] = []
    for segment in path.replace("\\", "/").split("/"):
        segment = segment.split(";", 1)[0]
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    return "/" + "/".join(out) + ("/" if path.endswith("/") and out else "")
