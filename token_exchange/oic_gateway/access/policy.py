"""Per-integration access rules (``ACCESS_POLICY``, JSON, or
``ACCESS_POLICY_FILE``). Pure: a rule table in, a verdict out.

OIC's client-credentials scope grants every integration of an instance, so
limits per integration belong at the gateway. The multi-argument authorizer
receives the request's path (and, where the deployment can pass it, the
method) as arguments; the first rule that matches both decides, and when a
policy is set, a request no rule matches is refused::

    {"rules": [
      {"name": "hello-world", "path": "/HELLO_WORLD/*", "scopes": ["oic-invoke"]},
      {"name": "orders-partner", "path": "/ORDERS/1.0/*", "methods": ["POST"], "client_ids": ["partner-app"]},
      {"name": "sales", "path": "/project/SALES/*", "scopes": ["sales"]},
      {"name": "sales-orders", "path": "/project/SALES/ORDERS/1.0/*", "client_ids": ["partner-app"]}
    ]}

``path`` is matched against the canonical form of the ``path`` argument,
which the authorizer has already passed through the one path rule
(``paths.integration_path``: no traversal, no double encoding, allow-listed
characters, upper-case identifiers, a ``MAJOR.0`` version, and no
trailing slash: ``/ORDERS/1.0/new/`` is decided as ``/ORDERS/1.0/new``);
``*`` matches anything, slashes included, and a final ``/*`` also the path
without it; everything else is literal. An OIC 3 integration inside a project has the canonical form
``/project/<PROJECT>/<INTEGRATION>/<VERSION>/...``, so ``/project/SALES/*``
names a whole project and ``/project/SALES/ORDERS/*`` one integration in it,
while ``/ORDERS/*`` names only the Gen2 (project-less) ORDERS: another
resource. A pattern starting with another spelling of ``project``
(``/PROJECT/...``) could match nothing the path rule lets through and is
refused. A rule with ``methods`` needs
the ``method`` argument and never matches without it; ``GET`` covers ``HEAD``
(a rule may name ``HEAD`` alone). ``scopes`` and
``client_ids`` are any-of; a rule with neither lets any valid token through.
``issuers`` (optional) limits a rule to tokens of those issuers; with several
trusted key sources it is required on a rule with ``scopes`` or ``client_ids``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from oic_gateway.access.paths import PROJECT_SEGMENT, IntegrationPath
from oic_gateway.errors import ConfigError, InvalidRequest, NotGranted
from oic_gateway.settings import json_setting
from oic_gateway.verification.claims import Claims
from oic_gateway.verification.issuers import IssuerConfig

MAX_RULES = 64


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    methods: frozenset[str] | None
    scopes: frozenset[str]
    client_ids: frozenset[str]
    issuers: frozenset[str] | None = None  # whose scopes and client ids these are (None: any issuer)
    glob: str = ""  # the pattern as written

    def could_match_under(self, prefix: str) -> bool:
        """Whether some path ``prefix + s`` could match (over-approximated: the
        rest of the path is taken as free text, which can only make a rule
        decide, never skip it)."""
        bare = prefix.removesuffix("/")  # whether a route also serves its prefix without the slash: undocumented
        head = self.glob.partition("*")[0]
        if "*" not in self.glob:
            return self.glob.startswith(prefix) or self.glob == bare
        # (head == bare would add nothing: bare begins prefix, so prefix.startswith(head) holds then.)
        return head.startswith(prefix) or prefix.startswith(head)

    def covers(self, prefix: str) -> bool:
        """Whether every path ``prefix + s`` matches: a glob ``<head>*`` whose head starts ``prefix``."""
        return self.glob.endswith("*") and "*" not in self.glob[:-1] and prefix.startswith(self.glob[:-1])

    @property
    def effective_methods(self) -> frozenset[str] | None:
        """The methods the rule matches: ``GET`` covers ``HEAD`` too (a web tier
        answers ``HEAD`` with the ``GET`` handler, as JAX-RS does); a rule may
        still name ``HEAD`` alone."""
        if self.methods is not None and "GET" in self.methods:
            return self.methods | {"HEAD"}
        return self.methods

    def matches(self, path: str, method: str | None) -> bool:
        methods = self.effective_methods
        if methods is not None and (method is None or method.upper() not in methods):
            return False
        return self.pattern.fullmatch(path) is not None

    def grants(self, claims: Claims) -> bool:
        if self.issuers is not None and claims.issuer not in self.issuers:
            return False
        if not self.scopes and not self.client_ids:
            return True
        return bool(self.scopes.intersection(claims.scopes)) or claims.client_id in self.client_ids


@dataclass(frozen=True)
class AccessPolicy:
    rules: tuple[Rule, ...]

    def decide(self, claims: Claims, path: IntegrationPath | None, method: str | None = None) -> str:
        """The name of the rule that allows this request; else raise. ``path``
        is the checked ``path`` argument (None: the gateway sent none)."""
        if path is None:
            raise InvalidRequest("an access policy is set but the gateway sent no 'path' argument",
                                 reason="policy_without_path")
        canonical = path.canonical
        for rule in self.rules:
            if rule.matches(canonical, method):
                if rule.grants(claims):
                    return rule.name
                raise NotGranted(f"rule '{rule.name}' does not grant this token", reason="policy_denied")
        raise NotGranted("no access rule matches this request", reason="policy_no_rule")


@dataclass(frozen=True)
class IntegrationDecision:
    """What the rules say about a whole integration (one route): ``granted``,
    the deciding ``rule`` (None: none could match), and ``partial``: the
    deciding rule covers only part of the route (a sub-path or some of its
    methods), so the route cannot enforce it and the integration is refused."""

    granted: bool
    rule: str | None
    partial: bool = False


def decide_integration(policy: AccessPolicy, claims: Claims | None, prefix: str,
                       methods: frozenset[str]) -> IntegrationDecision:
    """Decide for every call a route ``<prefix>{rest*}`` serving ``methods`` can
    carry, without its path. Rules are walked in order; one that can match no
    path under ``prefix`` or none of ``methods`` is skipped; the first that
    could match decides, and grants (iff ``rule.grants(claims)``) only when it
    covers the whole prefix and all of ``methods``; otherwise the answer is
    "not granted" (fail closed: such a rule needs the function-backend
    topology, which sees the path). ``claims`` None: decide coverage only."""
    for rule in policy.rules:
        rule_methods = rule.effective_methods
        if rule_methods is not None and rule_methods.isdisjoint(methods):
            continue
        if not rule.could_match_under(prefix):
            continue
        whole = rule.covers(prefix) and (rule_methods is None or methods <= rule_methods)
        if not whole:
            return IntegrationDecision(False, rule.name, partial=True)
        return IntegrationDecision(claims is not None and rule.grants(claims), rule.name)
    return IntegrationDecision(False, None)


def _glob(pattern: str) -> re.Pattern[str]:
    """``*`` matches anything; a final ``/*`` also matches the path without it
    (``/ORDERS/1.0/*`` matches ``/ORDERS/1.0``, which is what ``/ORDERS/1.0/``
    is decided as: paths are matched without their trailing slash)."""
    if pattern.endswith("/*"):
        return re.compile(_glob(pattern[:-2]).pattern + "(?:/.*)?")
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def access_policy_from_env(env: Mapping[str, str], trusted: Sequence[IssuerConfig] = ()) -> AccessPolicy | None:
    """``trusted``: the verifier's issuers. A client id or a scope name only means
    something to its own issuer, so with several trusted key sources a rule that
    grants by ``scopes`` or ``client_ids`` must say whose (``issuers``)."""
    setting = json_setting(env, "ACCESS_POLICY")
    if setting is None:
        return None
    key, document = setting
    entries = document.get("rules") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_RULES:
        raise ConfigError(key, f'must be {{"rules": [...]}} with 1 to {MAX_RULES} rules')
    rules = tuple(_rule(key, i + 1, entry) for i, entry in enumerate(entries))
    names = {settings.issuer for settings in trusted}
    several = len({settings.key_source for settings in trusted}) > 1
    for rule in rules:
        if rule.issuers is not None and names and not rule.issuers <= names:
            raise ConfigError(key, f"rule {rule.name}: 'issuers' names an issuer that is not trusted")
        if several and rule.issuers is None and (rule.scopes or rule.client_ids):
            raise ConfigError(key, f"rule {rule.name}: several issuers are trusted; add 'issuers' to say whose "
                                   "scopes or client_ids it means (another issuer may use the same names)")
    return AccessPolicy(rules)


def _string_set(key: str, where: str, entry: dict[str, Any], name: str) -> frozenset[str]:
    value = entry.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(key, f"{where}: '{name}' must be a list of strings")
    return frozenset(value)


def _rule(key: str, number: int, entry: Any) -> Rule:
    where = f"rule #{number}"
    if not isinstance(entry, dict):
        raise ConfigError(key, f"{where} is not an object")
    unknown = sorted(set(entry) - {"name", "path", "methods", "scopes", "client_ids", "issuers"})
    if unknown:
        raise ConfigError(key, f"{where}: unknown member(s) {', '.join(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name):
        raise ConfigError(key, f"{where}: 'name' must be 1 to 64 letters, digits, '.', '_' or '-'")
    pattern = entry.get("path")
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise ConfigError(key, f"rule {name}: 'path' must be a pattern starting with /, e.g. /HELLO_WORLD/*")
    if pattern.endswith("/"):
        raise ConfigError(key, f"rule {name}: 'path' ends with '/', which no path can: paths are matched without "
                               "their trailing slash (write /ORDERS/1.0/new for /ORDERS/1.0/new/)")
    first = pattern[1:].partition("/")[0]
    if "*" not in first and first.lower() == PROJECT_SEGMENT and first != PROJECT_SEGMENT:
        raise ConfigError(key, f"rule {name}: 'path' starts with /{first}/, which no path can: an OIC 3 project "
                               f"integration is /{PROJECT_SEGMENT}/<PROJECT>/<INTEGRATION>/..., in lower case")
    methods = entry.get("methods")
    method_set = None
    if methods is not None:
        method_set = frozenset(m.upper() for m in _string_set(key, f"rule {name}", entry, "methods"))
        if not method_set:
            raise ConfigError(key, f"rule {name}: 'methods' is empty (leave it out to match any method)")
    issuers = _string_set(key, f"rule {name}", entry, "issuers") if "issuers" in entry else None
    if issuers is not None and not issuers:
        raise ConfigError(key, f"rule {name}: 'issuers' is empty (leave it out to mean any issuer)")
    return Rule(name, _glob(pattern), method_set, _string_set(key, f"rule {name}", entry, "scopes"),
                _string_set(key, f"rule {name}", entry, "client_ids"), issuers, pattern)
