"""Writes the one-route-per-integration deployment specifications from the
one list of integrations: ``python -m ops.routes`` (``make routes``).

``deploy/integrations.json`` is the only place an integration is named. From
it this writes ``deploy/apigw-authorizer-context.json`` and
``deploy/apigw-access-policy.json``; Terraform reads those same files (and
gives the list itself to the authorizer as ``GATEWAY_INTEGRATIONS``), and
``tests/unit/test_routes.py`` checks that the committed files are exactly what
this writes. Nobody edits a route by hand.

Each integration gets one route, ``/<INTEGRATION>/<VERSION>/{rest*}`` (or
``/project/<PROJECT>/<INTEGRATION>/<VERSION>/{rest*}``), whose backend URL is
OIC's fixed prefix for it plus ``${request.path[rest]}``, and whose
``authorization`` is ``ANY_OF`` the integration's synthetic scope, which the
authorizer returns only when the caller's access rules grant it. The
authorizer is given the token alone: OCI documents no ``request.path`` among
the tables an authentication parameter may read.

Options: ``--integrations FILE`` (another list), ``--out DIR`` (write there),
``--check`` (write nothing; exit 1 when a file differs).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from oic_gateway.access.integrations import Integration, parse_integrations
from oic_gateway.access.query import OIC_QUERY_PARAMETERS
from oic_gateway.errors import ConfigError

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
INTEGRATIONS_FILE = DEPLOY / "integrations.json"
TARGETS = ("apigw-authorizer-context.json", "apigw-access-policy.json")
AUTHORIZER = "<authorizer-context-function-ocid>"
OIC_HOST = "https://<oic-host>"

# The header lists of docs/security.md (the gateway calls OIC itself here). No
# protected header (docs/oci-fidelity.md) is named: a transformation cannot touch
# one, so Retry-After, which OCI passes anyway, is not in the response list.
REQUEST_HEADERS = ("Authorization", "Accept", "Accept-Language", "Content-Type", "Content-Language", "If-Match",
                   "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
# Requests per second per client IP, at the API level, before the authorizer: every distinct junk bearer string is
# a new authorizer cache key, so a function invocation that costs money. OCI answers 429 above it ("Limiting the
# Number of Requests to API Gateway Back Ends", apigatewaylimitingbackendaccess.htm). Terraform's
# rate_limit_per_client_ip overrides it per deployment.
RATE_LIMITING = {"rateKey": "CLIENT_IP", "rateInRequestsPerSecond": 100}
RESPONSE_HEADERS = ("Content-Type", "Content-Language", "Content-Disposition", "Cache-Control", "Expires", "ETag",
                    "Last-Modified")


def route(item: Integration) -> dict[str, Any]:
    return {
        "path": item.route_path,
        "methods": list(item.methods),
        "backend": {
            "type": "HTTP_BACKEND",
            "url": f"{OIC_HOST}{item.oic_prefix}${{request.path[rest]}}",
            "connectTimeoutInSeconds": 10,
            "readTimeoutInSeconds": 60,
            "sendTimeoutInSeconds": 60,
        },
        "requestPolicies": {
            "authorization": {"type": "ANY_OF", "allowedScope": [item.scope]},
            "headerTransformations": {
                "setHeaders": {"items": [{"name": "Authorization", "values": ["${request.auth[back_end_token]}"],
                                          "ifExists": "OVERWRITE"}]},
                "filterHeaders": {"type": "ALLOW", "items": [{"name": name} for name in REQUEST_HEADERS]},
            },
            # Query parameters OIC's runtime reads (access.query; the backend refuses every spelling).
            "queryParameterTransformations": {
                "filterQueryParameters": {"type": "BLOCK", "items": [{"name": n} for n in OIC_QUERY_PARAMETERS]},
            },
        },
        "responsePolicies": {
            "headerTransformations": {
                "filterHeaders": {"type": "ALLOW", "items": [{"name": name} for name in RESPONSE_HEADERS]},
            },
        },
    }


def specification(integrations: tuple[Integration, ...]) -> dict[str, Any]:
    return {
        "requestPolicies": {
            "authentication": {
                "type": "CUSTOM_AUTHENTICATION",
                "functionId": AUTHORIZER,
                "isAnonymousAccessAllowed": False,
                "parameters": {"token": "request.headers[Authorization]"},
                "cacheKey": ["token"],
            },
            "rateLimiting": dict(RATE_LIMITING),
        },
        "routes": [route(item) for item in integrations],
    }


def render(integrations: tuple[Integration, ...]) -> str:
    return json.dumps(specification(integrations), indent=2) + "\n"


def load(path: Path) -> tuple[Integration, ...]:
    """The list in ``path``; raises ``ConfigError`` (named after the file)."""
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read it ({exc.strerror})") from None
    except ValueError:
        raise ConfigError(str(path), "is not valid JSON") from None
    return parse_integrations(str(path), document)


def outputs(integrations_file: Path, out: Path) -> dict[Path, str]:
    text = render(load(integrations_file))
    return {out / name: text for name in TARGETS}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.routes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--integrations", type=Path, default=INTEGRATIONS_FILE, help="the list (JSON)")
    parser.add_argument("--out", type=Path, default=DEPLOY, help="where the specifications go")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file differs")
    options = parser.parse_args(argv)
    try:
        files = outputs(options.integrations, options.out)
    except ConfigError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    stale = [path for path, text in files.items() if not path.exists() or path.read_text() != text]
    if options.check:
        for path in stale:
            print(f"{path} is not what {options.integrations} gives: run make routes", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
