"""The list of integrations a gateway deployment serves, one route each.

One source (``deploy/integrations.json``, or ``GATEWAY_INTEGRATIONS`` /
``GATEWAY_INTEGRATIONS_FILE`` on the authorizer), read by the route generator
(``python -m ops.routes``, which writes the deployment specifications) and by
the authorizer (which answers, in ``scope``, the synthetic scope of every
integration the caller's access rules grant). Pure: JSON in, entries out::

    {"integrations": [
      {"integration": "HELLO_WORLD", "version": "1.0", "methods": ["GET", "POST"]},
      {"project": "SALES", "integration": "QUOTE", "version": "1.0", "methods": ["POST"]}
    ]}

An entry without ``project`` is a Gen2-shaped REST trigger
(``/ic/api/integration/v1/flows/rest/<INTEGRATION>/<VERSION>/``); one with a
``project`` an OIC 3 project integration
(``/ic/api/integration/v2/flows/rest/project/<PROJECT>/<INTEGRATION>/<VERSION>/``).
Its route is ``/<INTEGRATION>/<VERSION>/{rest*}`` (or
``/project/<PROJECT>/<INTEGRATION>/<VERSION>/{rest*}``), its synthetic scope
``oic:<INTEGRATION>/<VERSION>`` (or ``oic:project/<PROJECT>/<INTEGRATION>/<VERSION>``): the
path prefix is the path rule's canonical form (``access.paths``: ``/project/<PROJECT>/`` for a
project integration), the one access rules match, so a rule names a route as it names a path.

OCI allows at most ``MAX_ROUTES`` routes in one deployment (API Gateway
Internal Limits, "Number of routes per API deployment", cannot be changed):
a longer list is refused here, so neither the generator nor the authorizer
accepts what ``deployment create`` would not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oic_gateway.access.paths import GEN2_FLOWS, IDENTIFIER, OIC_API_ROOT, PROJECT_FLOWS, PROJECT_SEGMENT, VERSION
from oic_gateway.errors import ConfigError
from oic_gateway.settings import json_setting

MAX_ROUTES = 50
LIMITS_PAGE = "https://docs.oracle.com/iaas/Content/APIGateway/Reference/apigatewaylimits.htm"
# Every synthetic scope starts with this. A token's own scope with this prefix (in
# any case), or with white space in it, is never echoed in the authorizer's answer:
# only the access rules grant one.
SCOPE_PREFIX = "oic:"
# What OIC's REST triggers serve (the methods OCI routes take, less ANY).
ROUTE_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# The same identifiers and version form the path rule accepts (access.paths).
_IDENTIFIER = IDENTIFIER
_VERSION = VERSION


@dataclass(frozen=True)
class Integration:
    integration: str
    version: str
    methods: tuple[str, ...]
    project: str | None = None

    @property
    def path_prefix(self) -> str:
        """The caller's path up to the resource path, ``/`` at both ends: what access rules see."""
        head = f"/project/{self.project}" if self.project is not None else ""
        return f"{head}/{self.integration}/{self.version}/"

    @property
    def route_path(self) -> str:
        return self.path_prefix + "{rest*}"

    @property
    def oic_prefix(self) -> str:
        """OIC's REST trigger path for this integration, ``/`` at the end."""
        if self.project is not None:
            return f"{OIC_API_ROOT}{PROJECT_FLOWS}/{self.project}/{self.integration}/{self.version}/"
        return f"{OIC_API_ROOT}{GEN2_FLOWS}/{self.integration}/{self.version}/"

    @property
    def scope(self) -> str:
        """The synthetic scope its route's ``ANY_OF`` asks for."""
        return SCOPE_PREFIX + self.path_prefix.strip("/")


def parse_integrations(key: str, document: Any) -> tuple[Integration, ...]:
    """Check the list. Raises one ``ConfigError(key, ...)`` naming the first wrong entry."""
    entries = document.get("integrations") if isinstance(document, dict) else None
    if not isinstance(document, dict) or set(document) != {"integrations"} or not isinstance(entries, list):
        raise ConfigError(key, 'must be {"integrations": [...]}')
    if not entries:
        raise ConfigError(key, "lists no integration")
    if len(entries) > MAX_ROUTES:
        raise ConfigError(key, f"lists {len(entries)} integrations; OCI allows at most {MAX_ROUTES} routes in one "
                               f"deployment (Number of routes per API deployment, {LIMITS_PAGE}): split them "
                               "over several deployments")
    out = tuple(_entry(key, i + 1, entry) for i, entry in enumerate(entries))
    seen: set[str] = set()
    for item in out:
        if item.path_prefix in seen:
            raise ConfigError(key, f"lists {item.path_prefix} twice")
        seen.add(item.path_prefix)
    return out


def _entry(key: str, number: int, entry: Any) -> Integration:
    where = f"integration #{number}"
    if not isinstance(entry, dict):
        raise ConfigError(key, f"{where} is not an object")
    unknown = sorted(set(entry) - {"integration", "version", "methods", "project"})
    if unknown:
        raise ConfigError(key, f"{where}: unknown member(s) {', '.join(unknown)}")
    name, version, project = entry.get("integration"), entry.get("version"), entry.get("project")
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ConfigError(key, f"{where}: 'integration' must be upper-case letters, digits, '_' or '-' "
                               "(e.g. HELLO_WORLD)")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ConfigError(key, f"{where}: 'version' must be MAJOR.0 without leading zeros (e.g. 1.0, "
                               "as OIC's REST trigger URLs carry it)")
    if project is not None and (not isinstance(project, str) or not _IDENTIFIER.fullmatch(project)):
        raise ConfigError(key, f"{where}: 'project' must be upper-case letters, digits, '_' or '-'")
    if project is None and name.lower() == PROJECT_SEGMENT:
        # The path rule reserves the first segment 'project' for the OIC 3 project shape.
        raise ConfigError(key, f"{where}: an integration outside a project cannot be named '{name}': the first "
                               f"path segment '{PROJECT_SEGMENT}' starts the OIC 3 project shape")
    methods = entry.get("methods")
    if (not isinstance(methods, list) or not methods
            or not all(isinstance(m, str) and m in ROUTE_METHODS for m in methods)
            or len(set(methods)) != len(methods)):
        raise ConfigError(key, f"{where}: 'methods' must be a non-empty list of distinct upper-case methods of "
                               f"{', '.join(sorted(ROUTE_METHODS))}")
    return Integration(name, version, tuple(methods), project)


def integrations_from_env(env: Mapping[str, str]) -> tuple[Integration, ...] | None:
    """``GATEWAY_INTEGRATIONS`` (JSON) or ``GATEWAY_INTEGRATIONS_FILE``; None when unset."""
    setting = json_setting(env, "GATEWAY_INTEGRATIONS")
    if setting is None:
        return None
    key, document = setting
    return parse_integrations(key, document)
