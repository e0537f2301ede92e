"""The one path rule, for both topologies: which caller paths may reach OIC.

A caller names an integration in one of two shapes:

* ``/<INTEGRATION>/<VERSION>/<rest>``: a Gen2 integration, or an OIC 3 one
  outside any project; it goes after ``/ic/api/integration/v1/flows/rest``;
* ``/project/<PROJECT>/<INTEGRATION>/<VERSION>/<rest>``: an OIC 3
  integration inside a project; ``/<PROJECT>/<INTEGRATION>/<VERSION>/<rest>``
  goes after ``/ic/api/integration/v2/flows/rest/project``.

The first segment ``project`` is reserved: it always starts the project
shape, and any other spelling of it (``PROJECT``, ``Project``) is refused, so
a path can never be read in both shapes by us, the gateway or OIC. Anything
that could make the OIC URL point elsewhere once some hop decodes or
normalises it is refused, in both shapes alike. Pure: a string in, an ``IntegrationPath`` or ``BadPath`` out.

The path is decoded repeatedly (``%XX``, at most ``MAX_DECODE_ROUNDS`` times,
until it no longer changes) because nobody documents how many times the hops
between the caller and OIC decode it: API Gateway may, the HTTP client may,
OIC's web tier may. Every layer is checked. A path is refused when any layer
has

* a dot segment (``.`` or ``..``), an empty segment, or ``;`` (path
  parameters, the ``..;/`` trick of Java servlet containers);
* ``%25`` (an encoded ``%``: double encoding), an encoded ``/`` or ``\\``, a
  backslash, a NUL or any control character;
* a scheme (``http:``...) or a leading ``//`` (an absolute or scheme-relative
  URL);

and, fully decoded, each segment must be made of an allow-listed set:

* ``INTEGRATION`` and ``PROJECT``: upper-case letters, digits, ``_`` and ``-``,
  starting with a letter or digit, at most 100 (OIC makes an integration's
  identifier its name "in upper case"; shipped flows also use ``-``, e.g.
  ``OUTL-BA-CCB_STREAM_NOTIF_UPLOAD``). A lower-case identifier is refused
  (``bad_path_case``), not folded: whether OIC matches identifiers
  case-sensitively is undocumented, so no other spelling may reach a rule;
* ``VERSION``: one form, ``MAJOR.0`` without leading zeros (``1.0``, the
  form of REST trigger URLs: OIC serves version 1.1.0 at ``/<I>/1.0/``, one
  minor per major being active); ``1.1`` (another minor, which would alias
  ``1.0`` past its rule), ``01.00``, ``1.00.0000`` or ``01.00.0000`` (the
  designer's form) are refused (``bad_path_version``), as nobody documents
  which of them OIC would serve as ``1.0``;
* each ``rest`` segment: RFC 3986 ``pchar`` without ``%`` and ``;``, that is
  ASCII letters, digits and ``-._~!$&'()*+,=:@``, sent raw or percent-encoded.

The canonical form (what is matched against access rules) is the fully
decoded path without its trailing slash, ``/project/<PROJECT>/`` included for
a project integration: with the allow-list above it needs no encoding. A
trailing slash is forwarded as sent (``flow_path``) but decided without it, so
``/ORDERS/1.0/new/`` meets the rule for ``/ORDERS/1.0/new``: a JAX-RS server
matches a resource with or without it (JAX-RS 2.1, 3.7.3), and whether OIC's
REST triggers do too is undocumented. ``flow_path`` is what goes
after the shape's OIC prefix, ``oic_api_path`` the whole path below
``/ic/api/integration`` with OIC's default prefixes (what the route
topologies' backend URLs start with: ``access.integrations``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from oic_gateway.errors import BadPath

MAX_PATH_CHARS = 2048
MAX_DECODE_ROUNDS = 4
MAX_REST_SEGMENTS = 32

_INTEGRATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")  # the characters; then upper case (IDENTIFIER)
IDENTIFIER = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,99}")  # an integration or project identifier as OIC writes it
_VERSION = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,4}){0,3}")  # the characters; then the one form (VERSION)
# MAJOR.0, no leading zeros: 1.0. OIC's REST trigger URLs carry MAJOR.0 whatever the minor (1.1.0 is served
# at /HELLO_WORLD/1.0/; one minor per major is active), so a path with another minor could alias that flow.
VERSION = re.compile(r"(?:0|[1-9][0-9]{0,3})\.0")
_REST_SEGMENT = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,=:@]{1,256}")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c|25|00)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

PROJECT_SEGMENT = "project"  # the reserved first segment of the project shape
OIC_API_ROOT = "/ic/api/integration"
GEN2_FLOWS = "/v1/flows/rest"  # below OIC_API_ROOT: Gen2, and OIC 3 outside projects
PROJECT_FLOWS = "/v2/flows/rest/project"  # below OIC_API_ROOT: OIC 3 inside a project


@dataclass(frozen=True)
class IntegrationPath:
    integration: str
    version: str
    rest: tuple[str, ...]
    trailing_slash: bool = False
    project: str | None = None  # the OIC 3 project, None for the Gen2 shape

    @property
    def flow_path(self) -> str:
        """``[/<PROJECT>]/<INTEGRATION>/<VERSION>[/<rest>...][/]``: what follows
        the shape's OIC prefix (``OIC_PATH_PREFIX`` or ``OIC_PROJECT_PATH_PREFIX``)."""
        head = () if self.project is None else (self.project,)
        return ("/" + "/".join((*head, self.integration, self.version, *self.rest))
                + ("/" if self.trailing_slash else ""))

    @property
    def canonical(self) -> str:
        """``[/project/<PROJECT>]/<INTEGRATION>/<VERSION>[/<rest>...]``, fully
        decoded and without a trailing slash: what access rules match (the
        path is forwarded with its slash, ``flow_path``; OIC's REST triggers are
        may serve a path with or without one alike)."""
        head = () if self.project is None else (PROJECT_SEGMENT, self.project)
        return "/" + "/".join((*head, self.integration, self.version, *self.rest))

    @property
    def request_path(self) -> str:
        """The canonical form with the trailing slash as sent: the caller's path
        that the forwarder maps to ``flow_path``."""
        return self.canonical + ("/" if self.trailing_slash else "")

    @property
    def oic_api_path(self) -> str:
        """The OIC path below ``/ic/api/integration`` with OIC's default prefixes:
        ``/v1/flows/rest/<I>/<V>/...`` or ``/v2/flows/rest/project/<P>/<I>/<V>/...``."""
        return (GEN2_FLOWS if self.project is None else PROJECT_FLOWS) + self.flow_path


def integration_path(raw: str) -> IntegrationPath:
    """Check a caller path (a leading ``/`` optional, as a gateway path
    parameter has none). Raises ``BadPath`` with a reason code."""
    if not isinstance(raw, str) or not raw:
        raise BadPath("the path is empty", reason="bad_path")
    if len(raw) > MAX_PATH_CHARS:
        raise BadPath("the path is too long", reason="bad_path")
    if raw.startswith("//") or raw.startswith("\\"):
        raise BadPath("a scheme-relative URL is not a path", reason="bad_path_url")
    layers = _decoded_layers(raw)
    for layer in layers:
        _check_layer(layer)
    # A trailing slash is the resource path's business; interior ones are not.
    segments = layers[-1].removeprefix("/").removesuffix("/").split("/")
    raw_segments = raw.removeprefix("/").removesuffix("/").split("/")
    if len(segments) != len(raw_segments):
        raise BadPath("an encoded '/' in the path", reason="bad_path_encoding")
    project = None
    if segments[0].lower() == PROJECT_SEGMENT:
        if segments[0] != PROJECT_SEGMENT:
            raise BadPath("the first segment 'project' is reserved and written in lower case", reason="bad_path_shape")
        if len(segments) < 4:
            raise BadPath("a project path needs PROJECT, INTEGRATION and VERSION after its first segment",
                          reason="bad_path_shape")
        project = segments[1]
        if not _INTEGRATION.fullmatch(project):
            raise BadPath("the project identifier has characters outside [A-Za-z0-9_-]", reason="bad_path_shape")
        if not IDENTIFIER.fullmatch(project):
            raise BadPath("the project identifier is not in upper case", reason="bad_path_case")
        segments = segments[2:]
    if len(segments) < 2:
        raise BadPath("the path is not /<INTEGRATION>/<VERSION>/...", reason="bad_path_shape")
    integration, version, *rest = segments
    if not _INTEGRATION.fullmatch(integration):
        raise BadPath("the integration identifier has characters outside [A-Za-z0-9_-]", reason="bad_path_shape")
    if not IDENTIFIER.fullmatch(integration):
        raise BadPath("the integration identifier is not in upper case", reason="bad_path_case")
    if not _VERSION.fullmatch(version):
        raise BadPath("the integration version is not digits and dots, e.g. 1.0", reason="bad_path_shape")
    if not VERSION.fullmatch(version):
        raise BadPath("the integration version is not MAJOR.0 without leading zeros, e.g. 1.0",
                      reason="bad_path_version")
    if len(rest) > MAX_REST_SEGMENTS:
        raise BadPath("the path has too many segments", reason="bad_path_shape")
    for segment in rest:
        if not _REST_SEGMENT.fullmatch(segment):
            raise BadPath("a resource path segment has characters outside the allowed set", reason="bad_path_chars")
    return IntegrationPath(integration, version, tuple(rest), trailing_slash=raw.endswith("/"), project=project)


def _decoded_layers(raw: str) -> list[str]:
    layers = [raw]
    for _ in range(MAX_DECODE_ROUNDS):
        try:
            decoded = unquote(layers[-1], errors="strict")
        except UnicodeDecodeError:
            raise BadPath("the path's percent-encoding is not UTF-8", reason="bad_path_encoding") from None
        if decoded == layers[-1]:
            return layers
        layers.append(decoded)
    raise BadPath("the path is encoded too many times", reason="bad_path_encoding")


def _check_layer(layer: str) -> None:
    if _ENCODED_SEPARATOR.search(layer):
        raise BadPath("an encoded '/', '\\', '%' or NUL in the path", reason="bad_path_encoding")
    if "\\" in layer or _CONTROL.search(layer):
        raise BadPath("a backslash or control character in the path", reason="bad_path_chars")
    if ";" in layer:
        raise BadPath("';' in the path", reason="bad_path_chars")
    if layer.startswith("//") or _SCHEME.match(layer.removeprefix("/")):
        raise BadPath("an absolute or scheme-relative URL is not a path", reason="bad_path_url")
    inner = layer.removeprefix("/").removesuffix("/").split("/")
    if any(segment in ("", ".", "..") for segment in inner):
        raise BadPath("a dot or empty segment in the path", reason="bad_path_traversal")
