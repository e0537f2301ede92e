"""usage: python -m ops check_deployment URL [--method M] [--timeout S] [--token-stdin]
       [--client-id ID --token-url URL --scope SCOPE] [--log-group COMPARTMENT/LOG_GROUP]

Calls a deployed gateway as a vendor would and explains, in words, which hop
answered (the gateway itself, the authorizer, the backend function or OIC),
what a refusal means, the likely causes of a 5xx in order, and the log search
to run for this very request (its ``opc-request-id``).

The vendor's token: ``TOKEN`` (environment), or ``--token-stdin``; without one,
a token is obtained by client credentials from ``TOKEN_URL`` (or ``--token-url``)
as ``CLIENT_ID`` with ``CLIENT_SECRET`` and ``SCOPE``. ``CLIENT_SECRET`` is read
from the environment only: a command line is visible to every user of the
machine (``ps``). Neither a token nor a secret is ever printed.

Exit status: 0 when OIC answered with a 2xx, 1 otherwise, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

import requests

MAX_BODY = 64 * 1024
_JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_PARAM = re.compile(r'([A-Za-z_]+)="((?:[^"\\]|\\.)*)"')
LOGGING_QUERY_DOC = "https://docs.oracle.com/iaas/Content/Logging/Reference/query_language_specification.htm"
GATEWAY_LOG_DOC = "https://docs.oracle.com/iaas/Content/Logging/Reference/details_for_api_gateway.htm"


class UsageError(Exception):
    pass


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    ms: float

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Finding:
    hop: str  # gateway | authorizer | backend | oic
    headline: str
    meaning: list[str]
    causes: list[str]
    healthy: bool = False
    call_id: str | None = None  # the backend function's request_id (its log's call_id)


def challenge_params(value: str) -> dict[str, str]:
    """The auth-params of a ``Bearer`` challenge (RFC 6750 section 3)."""
    return {name.lower(): raw.replace('\\"', '"') for name, raw in _PARAM.findall(value)}


# The authorizer's error_description texts (fixed strings of oic_gateway.errors' raisers), read back.
_DESCRIPTIONS: list[tuple[str, str, str]] = [
    ("token expired", "the token has expired",
     "get a new token; if it was fresh, the clock of the caller or the function is off (leeway CLOCK_SKEW_SECONDS)"),
    ("audience", "the token was issued for another audience (wrong resource app)",
     "request the gateway's scope (https://<apigw-host>/<scope>); TOKEN_AUDIENCES must list that primary audience"),
    ("issuer not accepted", "the token's issuer is not trusted",
     "set TOKEN_ISSUERS (or TRUSTED_ISSUERS) to the token's iss"),
    ("no trusted key has this 'kid'", "the token is signed by a key the authorizer does not know (unknown key)",
     "a token from another identity domain (check IDCS_DOMAIN_URL / JWKS_URL), or keys rotated moments ago: "
     "retry after 30 s"),
    ("this token does not grant this integration",
     "the token is valid, but no access rule lets it call this integration (ACCESS_POLICY)",
     "add a rule for this integration to ACCESS_POLICY, or call an integration the vendor is granted"),
    ("none of the required scopes granted", "the token lacks the required scope (missing scope)",
     "add the scope to the vendor's app and request it (REQUIRED_SCOPES names it)"),
    ("no oic user is mapped", "no OIC user is mapped for this caller", "OIC_SUBJECT_MAP / OIC_SUBJECT_CLAIM"),
    ("signature does not verify", "the token's signature does not verify (altered, or another key with this kid)",
     "get a fresh token from the identity domain"),
    ("not valid yet", "the token is not valid yet (nbf or iat in the future)", "check the clocks"),
    ("issued in the future", "the token is not valid yet (iat in the future)", "check the clocks"),
    ("algorithm not allowed", "the token's algorithm is refused (only RS256 and the like)", "use the domain's tokens"),
    ("not a 'bearer <token>' value", "the Authorization header is not 'Bearer <token>'",
     "send Authorization: Bearer <token>"),
    ("segment", "the token is malformed (not a compact JWS)",
     "send the access_token as the token endpoint returned it"),
    ("path", "the request's path is refused by the path rule (path refused)",
     "call /<INTEGRATION>/<VERSION>/<path>: upper-case identifier, MAJOR.0 version, no dot segments or "
     "encoded '/'"),
    ("integration", "the request's path is refused by the path rule (path refused)",
     "call /<INTEGRATION>/<VERSION>/<path> with an upper-case identifier and a MAJOR.0 version"),
]


def explain_challenge(challenge: str) -> tuple[str, list[str]]:
    """The meaning of the authorizer's challenge, and what to do."""
    params = challenge_params(challenge)
    error = params.get("error")
    description = params.get("error_description", "")
    if error is None:
        return "no token reached the authorizer (no error code: RFC 6750 for a request without credentials)", [
            "send Authorization: Bearer <token> (and keep the header on its way through any proxy)"]
    quoted = f'error="{error}"' + (f', error_description="{description}"' if description else "")
    for needle, meaning, fix in _DESCRIPTIONS:
        if needle in description.lower():
            extra = [f"required scope: {params['scope']}"] if "scope" in params else []
            return f"{meaning} ({quoted})", [*extra, f"fix: {fix}"]
    return f"the authorizer refused the token ({quoted})", []


def gateway_body(answer: Answer) -> bool:
    """API Gateway's own error body, ``{"code": <status>, "message": "<reason phrase>"}``
    (what local/gateway.py sends, after OCI's)."""
    body = answer.json()
    return (isinstance(body, dict) and set(body) == {"code", "message"} and body.get("code") == answer.status)


def backend_body(answer: Answer) -> dict[str, Any] | None:
    """The token-exchange function's error body, ``{"error": ..., "request_id": ...}``."""
    body = answer.json()
    if isinstance(body, dict) and isinstance(body.get("error"), str) and "request_id" in body:
        return body
    return None


_BACKEND_ERRORS: dict[str, tuple[str, list[str]]] = {
    "token_unavailable": ("the backend could not obtain an OIC token", [
        "the token endpoint refused the OIC client (invalid_client: OIC_CLIENT_ID or its secret; a Vault OCID the "
        "function cannot read)", "invalid_scope: OIC_SCOPE not in IDCS form or not granted",
        "the token endpoint is unreachable or failing (5xx, timeout)"]),
    "cannot_verify_caller": ("the backend could not verify the caller's token", [
        "the signing keys are unavailable: the JWKS endpoint fails, or needs client access "
        "(JWKS_CLIENT_ID/JWKS_CLIENT_SECRET)", "an introspection endpoint does not answer"]),
    "configuration_error": ("the backend's configuration is missing or malformed", [
        "a key named in the function log's 'configuration' line: check it with make doctor"]),
    "oic_unreachable": ("the backend cannot reach OIC", [
        "OIC_BASE_URL wrong, or OIC down", "the functions' subnet cannot reach OIC (route, NSG, DNS)"]),
    "oic_rejected_token": ("OIC's auth layer refused a fresh OIC token", [
        "the OIC app's scope (OIC_SCOPE) is not the instance's", "the OIC app lacks the ServiceInvoker role"]),
    "timeout": ("the backend ran out of time", [
        "OIC did not answer within OIC_TIMEOUT_SECONDS (a slow integration)",
        "the token endpoint did not answer within OIC_TOKEN_TIMEOUT_SECONDS",
        "the function's own deadline (its timeout) was reached"]),
    "token_endpoint_throttled": ("the identity domain throttles the OIC token requests", [
        "the domain's Token Mgmt rate limit: wait Retry-After; at scale with jwt_bearer, set SHARED_CACHE_URL"]),
    "caller_mismatch": ("the authorizer and the backend map the caller to different OIC users", [
        "set OIC_SUBJECT_CLAIM/OIC_SUBJECT_MAP on the application, not on one function"]),
    "insufficient_scope": ("the backend's own check refused the token's scope", ["REQUIRED_SCOPES"]),
    "invalid_token": ("the backend's own verification refused the token", [
        "the backend's verifier settings differ from the authorizer's (TOKEN_AUDIENCES, TRUSTED_ISSUERS)"]),
    "missing_token": ("no Authorization header reached the backend function", [
        "keep the route's Authorization: ${request.headers[Authorization]} header transformation"]),
    "no_route": ("the path is outside the backend's GATEWAY_PATH_PREFIX", ["GATEWAY_PATH_PREFIX"]),
    "bad_path": ("the backend refused the path (path rule)", ["call /<INTEGRATION>/<VERSION>/<path>"]),
    "bad_query": ("the backend refused a query parameter OIC's runtime reads", ["drop that parameter"]),
    "internal_error": ("the backend failed (a defect)", ["the function log's line for this request_id"]),
}


def classify(answer: Answer, sent_token: bool) -> Finding:
    status = answer.status
    challenge = answer.headers.get("WWW-Authenticate", "")
    backend = backend_body(answer)
    if backend is not None:
        code = str(backend["error"])
        meaning, causes = _BACKEND_ERRORS.get(code, (f"the backend function refused or failed ({code})", []))
        lines = [f"{meaning} (error={code})"]
        if challenge:
            lines.append(explain_challenge(challenge)[0])
        retry = answer.headers.get("Retry-After")
        if retry:
            lines.append(f"Retry-After: {retry} s")
        return Finding("backend", f"the backend function (token exchange) answered {status}", lines, causes,
                       call_id=str(backend.get("request_id")))
    if status in (401, 403) and challenge.lower().startswith("bearer"):
        meaning, fixes = explain_challenge(challenge)
        if not sent_token and "no token" in meaning:
            meaning = "no token was sent, and the authorizer asked for one"
        return Finding("authorizer", f"the authorizer denied the call; the gateway answered {status}", [meaning],
                       fixes)
    if gateway_body(answer):
        return _gateway(answer)
    if 200 <= status < 300:
        return Finding("oic", f"OIC answered {status}", ["the whole chain works: gateway, authorizer, OIC"], [],
                       healthy=True)
    causes = []
    if status in (401, 403):
        causes = ["OIC refused the OIC token: the OIC app (or the user) lacks the ServiceInvoker role",
                  "the integration itself refused the call"]
    elif status == 404:
        causes = ["the integration or version is not activated in OIC, or the path is not one of its resources"]
    elif status >= 500:
        causes = ["the integration failed in OIC (its activity stream / instance tracking has the error)",
                  "OIC is unavailable or being upgraded"]
    return Finding("oic", f"OIC (or the integration) answered {status}",
                   ["neither the gateway's nor the backend's error shape: the answer came from OIC"], causes)


def _gateway(answer: Answer) -> Finding:
    status = answer.status
    retry = answer.headers.get("Retry-After")
    headline = f"the gateway itself answered {status}"
    if status == 401:
        return Finding("gateway", headline, ["the gateway refused the call before any backend"], [
            "no token argument reached the authorizer (the Authorization header is missing)"])
    if status == 403:
        return Finding("gateway", headline, ["the gateway refused an authenticated call"], [
            "the route's ANY_OF allowedScope matches none of the token's scopes (align allowedScope with "
            "REQUIRED_SCOPES and the scope the vendor requests)",
            "with an access policy (routes allowing oic:<INTEGRATION>/<VERSION>): no ACCESS_POLICY rule grants this "
            "integration to the token (this token does not grant this integration)",
            "usage plans: the token's client id is no subscriber of a plan entitling this deployment (or no "
            "client token): make the vendor a subscriber"])
    if status == 404:
        return Finding("gateway", headline, ["no route of the deployment matches this path"], [
            "the deployment's path prefix is wrong in the URL", "the integration has no route (make routes; "
            "deploy/integrations.json)", "the identifier or version is misspelled (upper case, MAJOR.0)"])
    if status == 405:
        return Finding("gateway", headline, ["the route does not take this method"], ["the route's methods"])
    if status == 429:
        wait = f"Retry-After: {retry} s" if retry else "no Retry-After"
        return Finding("gateway", headline, [f"the call was throttled ({wait})"], [
            "the vendor's usage plan: its rate limit (Retry-After about 1 s)",
            "the vendor's usage plan: its quota for the period is spent (Retry-After says when it resets)",
            "the deployment's rate limiting policy"])
    if status == 502:
        return Finding("gateway", headline, ["a hop behind the gateway failed; the gateway says no more"], [
            "the authorizer cannot decide: its keys are unavailable (JWKS endpoint down or refusing), its "
            "configuration is wrong (log 'configuration <KEY>'), or (authorizer-context) it cannot obtain the OIC "
            "token (token endpoint down, throttled, invalid_client)",
            "the backend function failed or could not be invoked (crash, out of memory, the ApiGateway invoke "
            "policy)",
            "OIC is unreachable from the gateway (HTTP backend: DNS, connection refused, TLS)"])
    if status == 504:
        return Finding("gateway", headline, ["a hop behind the gateway did not answer in time"], [
            "OIC did not answer within the route's readTimeoutInSeconds (a slow integration)",
            "the backend function did not finish within its timeout (or a cold start)",
            "the authorizer function did not answer in time"])
    return Finding("gateway", headline, [str(answer.json().get("message"))], [])


def claims_summary(token: str) -> str:
    """A few claims of the token, read without verification; never the token."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return "not a JWT"
    if not isinstance(claims, dict):
        return "not a JWT"
    parts = [f"{name}={claims[name]}" for name in ("client_id", "sub", "scope") if name in claims]
    aud = claims.get("aud")
    if aud is not None:
        parts.append("aud=" + (",".join(map(str, aud)) if isinstance(aud, list) else str(aud)))
    exp = claims.get("exp")
    if isinstance(exp, int | float):
        left = int(exp - time.time())
        parts.append(f"expires in {left} s" if left >= 0 else f"expired {-left} s ago")
    return " ".join(parts)


def client_credentials(token_url: str, client_id: str, secret: str, scope: str, timeout: float) -> str:
    try:
        response = requests.post(token_url, data={"grant_type": "client_credentials", "scope": scope},
                                 auth=(client_id, secret), timeout=(min(timeout, 5.0), timeout),
                                 allow_redirects=False)
    except requests.RequestException as exc:
        raise RuntimeError(f"the token endpoint did not answer ({type(exc).__name__})") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        error = body.get("error") if isinstance(body, dict) else None
        raise RuntimeError(f"the token endpoint answered {response.status_code}" + (f" {error}" if error else ""))
    token: str = body["access_token"]
    return token


def call(url: str, method: str, token: str | None, request_id: str, timeout: float) -> Answer:
    headers = {"opc-request-id": request_id, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    started = time.monotonic()
    with requests.request(method, url, headers=headers, timeout=(min(timeout, 5.0), timeout), stream=True,
                          allow_redirects=False) as response:
        body = b""
        for chunk in response.iter_content(8192):
            body += chunk
            if len(body) >= MAX_BODY:
                break
        return Answer(response.status_code, response.headers, body[:MAX_BODY], (time.monotonic() - started) * 1000)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ops check_deployment", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="https://<gateway-host>/<prefix>/<INTEGRATION>/<VERSION>/<path>")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for each request (default 30)")
    parser.add_argument("--token-stdin", action="store_true", help="read the vendor's token from stdin")
    parser.add_argument("--client-id", help="default: CLIENT_ID")
    parser.add_argument("--token-url", help="default: TOKEN_URL")
    parser.add_argument("--scope", help="default: SCOPE")
    parser.add_argument("--log-group", default="<compartment-ocid>/<log-group-ocid>",
                        help="the logs' compartment/log group, for the printed log search")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        raise UsageError("") from exit_
    if not re.match(r"https?://[^/]+/", args.url):
        raise UsageError("URL must be https://<gateway-host>/<prefix>/<INTEGRATION>/<VERSION>/<path>")
    if not 0.5 <= args.timeout <= 300:
        raise UsageError("--timeout must be between 0.5 and 300 seconds")
    return args


def main(argv: list[str], environ: Mapping[str, str], stdin: TextIO, out: TextIO) -> int:
    try:
        args = parse(argv)
    except UsageError as exc:
        if str(exc):
            print(f"usage error: {exc}", file=sys.stderr)
        return 2
    secrets: list[str] = []

    def say(line: str) -> None:
        for value in secrets:
            line = line.replace(value, "<redacted>")
        print(_JWT_LIKE.sub("<a token>", line), file=out)

    token = stdin.read().strip() if args.token_stdin else environ.get("TOKEN", "").strip()
    client_id = args.client_id or environ.get("CLIENT_ID", "")
    token_url = args.token_url or environ.get("TOKEN_URL", "")
    scope = args.scope or environ.get("SCOPE", "")
    secret = environ.get("CLIENT_SECRET", "")
    secrets.extend(v for v in (token, secret) if v)
    say(f"check-deployment: {args.method.upper()} {args.url}")
    if token:
        say(f"token: given ({'stdin' if args.token_stdin else 'TOKEN'}): {claims_summary(token)}")
    elif client_id or token_url or secret:
        missing = [name for name, value in (("CLIENT_ID", client_id), ("CLIENT_SECRET", secret),
                                            ("TOKEN_URL", token_url), ("SCOPE", scope)) if not value]
        if missing:
            print(f"usage error: client credentials need {', '.join(missing)} (CLIENT_SECRET from the environment "
                  "only)", file=sys.stderr)
            return 2
        try:
            token = client_credentials(token_url, client_id, secret, scope, args.timeout)
        except RuntimeError as exc:
            say(f"FAIL token: {exc} (client {client_id}, {token_url})")
            say("  likely causes: a wrong CLIENT_ID or CLIENT_SECRET (invalid_client); a SCOPE the app may not "
                "request (invalid_scope); the token endpoint unreachable")
            return 1
        secrets.append(token)
        say(f"token: client credentials from {token_url} as {client_id}: {claims_summary(token)}")
    else:
        say("token: none (no TOKEN, no CLIENT_ID/CLIENT_SECRET/TOKEN_URL/SCOPE): calling without one")
    request_id = uuid.uuid4().hex.upper()
    try:
        answer = call(args.url, args.method.upper(), token or None, request_id, args.timeout)
    except requests.Timeout:
        say(f"FAIL the gateway did not answer within {args.timeout:g} s (--timeout)")
        return 1
    except requests.RequestException as exc:
        say(f"FAIL cannot reach the gateway ({type(exc).__name__}): the host, port and TLS of the URL")
        return 1
    finding = classify(answer, bool(token))
    say(f"answer: {answer.status} in {answer.ms:.0f} ms")
    say(f"hop: {finding.headline}")
    for line in finding.meaning:
        say(f"meaning: {line}")
    if finding.causes:
        say("likely causes, most likely first:" if len(finding.causes) > 1 else "likely cause:")
        for n, cause in enumerate(finding.causes, 1):
            say(f"  {n}. {cause}")
    opc = answer.headers.get("opc-request-id") or request_id
    source = "the gateway's" if answer.headers.get("opc-request-id") else "sent by this check"
    say(f"opc-request-id: {opc} ({source})")
    say("log search (OCI Logging, Advanced mode; " + LOGGING_QUERY_DOC + "):")
    say(f"  the gateway's access log ({GATEWAY_LOG_DOC}):")
    say(f"    search \"{args.log_group}\" | where data.opcRequestId = '{opc}'")
    if finding.call_id:
        say("  the function's log, its call_id (the body's request_id; example, the match is unverified):")
        say(f"    search \"{args.log_group}\" | where data.message = '*{finding.call_id}*'")
    elif finding.hop == "authorizer":
        say("  the authorizer's deny lines around that time (example, the match is unverified):")
        say(f"    search \"{args.log_group}\" | where data.message = '*\"verdict\":\"deny\"*'")
    elif finding.hop == "gateway" and answer.status >= 500:
        say("  the functions' failures around that time (example, the match is unverified):")
        say(f"    search \"{args.log_group}\" | where data.message = '*\"level\":\"ERROR\"*'")
    if finding.healthy:
        say("OK healthy: OIC answered through the gateway")
        return 0
    say(f"FAIL {finding.hop}: {finding.headline}")
    return 1
