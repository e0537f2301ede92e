"""`python -m ops doctor`: explain, in plain lines with a fix each,
what is wrong with a configuration, whether the identity provider answers,
and why a given token would be accepted or refused.

It reads the configuration exactly as the functions do: the environment, or
the same ``KEY=VALUE`` file as ``make invoke`` (``--env-file``), or a
function's configuration as ``fn inspect function`` or ``oci fn function get``
prints it (``--function-config``). It reports every wrong key at once, names
the key in every fix, and never prints a token, a signature or a secret: only
claims and key ids.

Exit status: 0 when nothing is wrong, 1 when a FAIL line was printed, 2 for
a usage error (argparse).
"""

from __future__ import annotations

import argparse
import base64
import difflib
import json
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from authorizer.app import Authorizer, build_authorizer, partial_rules
from authorizer.context_token import backend_factory
from oic_gateway import errors
from oic_gateway.access.paths import integration_path
from oic_gateway.setting_keys import BY_NAME, KEY_NAMES
from oic_gateway.settings import Problems
from oic_gateway.verification import jws
from oic_gateway.verification.idp import JwksFetcher
from ops.env_file import read_env_file

KNOWN_KEYS = KEY_NAMES
OUR_PREFIXES = ("IDCS_", "JWKS_", "TOKEN_", "OIC_", "REQUIRED_", "TRUSTED_", "ACCESS_", "INTROSPECTION_", "AUTH_",
                "SHARED_CACHE_")

FIXES = {
    "IDCS_DOMAIN_URL": "set IDCS_DOMAIN_URL to https://idcs-<id>.identity.oraclecloud.com "
                       "(fn config app <app> IDCS_DOMAIN_URL ...)",
    "JWKS_URL": "unset JWKS_URL to use IDCS_DOMAIN_URL + /admin/v1/SigningCert/jwk, or give an https:// URL",
    "TOKEN_AUDIENCES": "set TOKEN_AUDIENCES to the primary audience of the API Gateway resource app, "
                       "e.g. https://<apigw-host>/",
    "TOKEN_ISSUERS": "unset TOKEN_ISSUERS for https://identity.oraclecloud.com/, or give the exact iss of your tokens",
    "OIC_SCOPE": "set OIC_SCOPE to https://<oic-primary-audience>urn:opc:resource:consumer::all (the OIC "
                 "instance's primary audience: identity domain, Oracle Cloud Services, the instance's app, "
                 "OAuth configuration, Resources)",
    "OIC_CLIENT_SECRET": "set OIC_CLIENT_SECRET_OCID to the Vault secret holding the OIC app's secret "
                         "(or OIC_CLIENT_SECRET inline)",
    "TRUSTED_ISSUERS": "correct TRUSTED_ISSUERS: see docs/security.md, 'Trusted issuers', for the JSON shape",
    "ACCESS_POLICY": 'correct ACCESS_POLICY: {"rules": [{"name": ..., "path": "/HELLO_WORLD/*", "scopes": [...]}]} '
                     "(docs/security.md: Per-integration access rules)",
    "OIC_TOKEN_URL": "set IDCS_DOMAIN_URL (OIC_TOKEN_URL is derived from it), or set OIC_TOKEN_URL",
    "OIC_GRANT_TYPE": "set OIC_GRANT_TYPE to client_credentials (the default), or jwt_bearer for user assertions",
    "OIC_CLIENT_ID": "set OIC_CLIENT_ID to the client id of the OIC confidential app (it needs ServiceInvoker)",
    "INTROSPECTION_CLIENT_SECRET": "set INTROSPECTION_CLIENT_SECRET_OCID (or INTROSPECTION_CLIENT_SECRET), "
                                   "the secret of INTROSPECTION_CLIENT_ID",
}
# The backend function's own keys: checked when any of them is set.
BACKEND_KEYS = ("OIC_BASE_URL", "GATEWAY_PATH_PREFIX", "OIC_PATH_PREFIX", "OIC_PROJECT_PATH_PREFIX",
                "CALLER_SUB_HEADER", "OIC_TIMEOUT_SECONDS")
# IDCS scope form: the resource's primary audience, then the scope, e.g.
# https://<oic-primary-audience>urn:opc:resource:consumer::all
IDCS_SCOPE_FORM = re.compile(r"https://[^\s/]+(?::\d+)?/?\S*urn:opc:resource:\S+")
# The host part of an https:// URL or of an IDCS-form scope (which runs into "urn:" when there is no port).
_HOST = re.compile(r"https?://(?:[^@/\s]*@)?(\[[^\]]*\]|[^:/\s]+?)(?=:\d|/|urn:|$)", re.IGNORECASE)


@dataclass
class Report:
    out: TextIO
    failures: int = 0
    lines: list[str] = field(default_factory=list)

    def ok(self, text: str) -> None:
        self._print(f"OK    {text}")

    def warn(self, text: str, fix: str = "") -> None:
        self._print(f"WARN  {text}" + (f"\n      fix: {fix}" if fix else ""))

    def fail(self, text: str, fix: str = "") -> None:
        self.failures += 1
        self._print(f"FAIL  {text}" + (f"\n      fix: {fix}" if fix else ""))

    def info(self, text: str) -> None:
        self._print(f"      {text}")

    def _print(self, line: str) -> None:
        self.lines.append(line)
        print(line, file=self.out, flush=True)


def _fix_for(key: str) -> str:
    base = key.removesuffix("_OCID").removesuffix("_FILE")
    return FIXES.get(base, f"correct {key} (fn config function <app> <function> {key} ...)")


def configuration_problems(env: Mapping[str, str]) -> list[errors.ConfigError]:
    """Every wrong key, read exactly as the functions read them: the
    authorizer (with its token exchange when OIC_CLIENT_ID is set), and the
    backend function's keys when any of them is set."""
    problems = Problems()
    problems.read(lambda: build_authorizer(env, backend_factory), None)
    if any(env.get(key, "").strip() for key in BACKEND_KEYS):
        from oic_gateway.forwarding.forwarder import BackendConfig

        problems.read(lambda: BackendConfig.from_env(env), None)
    return problems.errors


def check_configuration(env: Mapping[str, str], report: Report) -> bool:
    """Every key at once, so that every wrong key is reported, not just the first."""
    before = report.failures
    if env.get("FDK_DEBUG", "").strip():
        report.warn("FDK_DEBUG is set: fdk then logs every request's headers on a container's first call, "
                    "bearer tokens included (the backend image drops FDK_DEBUG at start for that reason; the "
                    "authorizer's token travels in the body, which fdk does not log)",
                    "unset FDK_DEBUG (fn config function <app> <function> FDK_DEBUG '')")
    for error in configuration_problems(env):
        report.fail(str(error), _fix_for(error.key))
    scope = env.get("OIC_SCOPE", "").strip()
    runtime_host = _host(env.get("OIC_BASE_URL", ""))
    for item in scope.split():
        if not IDCS_SCOPE_FORM.fullmatch(item):
            report.warn(f"OIC_SCOPE {item!r} is not in IDCS form (the resource's primary audience, then the scope); "
                        "the token endpoint answers invalid_scope", FIXES["OIC_SCOPE"])
        elif runtime_host and _host(item) == runtime_host:
            report.warn(f"OIC_SCOPE {item!r} names OIC_BASE_URL's host {runtime_host!r}: that is likely the "
                        "runtime host, not the OIC instance's primary audience (often a GUID-style host), and "
                        "then the token endpoint answers invalid_scope", FIXES["OIC_SCOPE"])
    check_placeholders(env, report)
    check_inline_secrets(env, report)
    for key in sorted(env):
        if key.startswith(OUR_PREFIXES) and key not in KNOWN_KEYS:
            meant = nearest_key(key)
            report.warn(f"unknown key {key} is ignored" + (f": did you mean {meant}?" if meant else " (a typo?)"),
                        f"rename {key} to {meant}" if meant else f"remove {key} or correct its name")
    if report.failures == before:
        report.ok("configuration: every key is well formed")
        check_partial_rules(env, report)
    return report.failures == before


def check_partial_rules(env: Mapping[str, str], report: Report) -> None:
    """With GATEWAY_INTEGRATIONS set, the gateway's routes grant an integration
    whole or not at all: an ACCESS_POLICY rule deciding for only part of a listed
    integration (a sub-path, some methods) refuses it to everyone. The authorizer's
    own start-up check (``partial_rules``), reported as a warning."""
    authorizer = build_authorizer(env, None)  # the configuration is well formed: it builds
    if authorizer.integrations is None:
        return
    for rule, prefix in partial_rules(authorizer.checks.policy, authorizer.integrations):
        report.warn(f"ACCESS_POLICY rule {rule} covers only part of the route {prefix}{{rest*}} (a sub-path or "
                    "some of its methods): with GATEWAY_INTEGRATIONS set, a route is granted whole or not at all, "
                    "so the route topologies refuse that integration to every caller",
                    f"widen rule {rule} in ACCESS_POLICY to {prefix}* with every method the integration lists, or "
                    "use the function-backend topology (no GATEWAY_INTEGRATIONS), which sees the path")


# A value still holding a placeholder from the docs: <...>, or a host under the
# reserved example names (RFC 2606: example, example.com/.net/.org, *.example).
_ANGLE_PLACEHOLDER = re.compile(r"<[^<>\s]{1,80}>")
_EXAMPLE_HOST = re.compile(r"(?:^|[/@.])example(?:\.(?:com|net|org))?(?=$|[:/.])", re.IGNORECASE)
Function = Literal["authorizer", "token-exchange"]


def placeholder_in(value: str) -> str | None:
    """The placeholder a value still holds, if any (never the value itself: it may be a secret)."""
    found = _ANGLE_PLACEHOLDER.search(value)
    if found:
        return found.group(0)
    for url in re.findall(r"https?://[^\s]+", value):
        host = url.split("://", 1)[1].split("/", 1)[0]
        if _EXAMPLE_HOST.search("/" + host.lower().split("@")[-1].rstrip(".")):
            return "an example host"
    return None


def check_placeholders(env: Mapping[str, str], report: Report) -> None:
    for key in sorted(env):
        if key not in KNOWN_KEYS:
            continue
        placeholder = None if BY_NAME[key].secret else placeholder_in(env[key])
        if placeholder is not None:
            report.fail(f"configuration {key}: still holds the placeholder {placeholder}", _fix_for(key))


def nearest_key(key: str) -> str | None:
    """The known key an unknown one most likely meant."""
    close = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1, cutoff=0.75)
    return close[0] if close else None


def check_inline_secrets(env: Mapping[str, str], report: Report) -> None:
    """An inline secret works, but in production it belongs in OCI Vault: the
    function then holds only the secret's OCID (fn config and Terraform state
    hold no secret) and picks up a rotation without a redeploy."""
    for key in sorted(env):
        setting = BY_NAME.get(key)
        if setting is None or not setting.secret or not env[key].strip():
            continue
        vault_key = key + "_OCID"
        report.warn(f"{key} is set inline: fine for a trial, but in production a secret belongs in OCI Vault",
                    f"store it as a Vault secret, set {vault_key} to the secret's OCID and unset {key} "
                    "(docs/setup-oci.md: Vault)" if vault_key in KNOWN_KEYS else f"unset {key}")


def topology(env: Mapping[str, str], function: Function | None, report: Report) -> None:
    """Say which topology the settings amount to, and warn when the authorizer's
    OIC_* keys switch on the authorizer-context topology, likely by accident."""
    exchanges = bool(env.get("OIC_CLIENT_ID", "").strip())
    backend = bool(env.get("OIC_BASE_URL", "").strip())
    if function == "token-exchange" or (function is None and backend):
        report.ok("topology: function backend (this function verifies its caller and calls OIC)")
        return
    listed = any(env.get(key, "").strip() for key in ("GATEWAY_INTEGRATIONS", "GATEWAY_INTEGRATIONS_FILE"))
    if not listed and (exchanges or env.get("ACCESS_POLICY", "").strip()):
        # The shipped route specifications (make routes) let a call through only with the
        # integration's synthetic scope, which the authorizer answers only from the list.
        report.warn("GATEWAY_INTEGRATIONS is not set: the shipped authorizer-context and access-policy "
                    "specifications (make routes) admit a call only with its integration's oic: scope, which the "
                    "authorizer answers from that list, so every call would get 403; and an ACCESS_POLICY on the "
                    "authorizer of the function-backend topology refuses every call (it is given no path)",
                    "set GATEWAY_INTEGRATIONS on the authorizer: fn config function <app> oic-authorizer "
                    "GATEWAY_INTEGRATIONS \"$(cat deploy/integrations.json)\" (again after each make routes); for "
                    "the function backend, set ACCESS_POLICY on the token-exchange function instead")
    if exchanges:
        report.ok("topology: authorizer-context (the authorizer also obtains the OIC token and hands it to the "
                  "gateway in context.back_end_token)")
        if function == "authorizer":
            report.warn("OIC_CLIENT_ID is set on the authorizer: that switches on the authorizer-context topology "
                        "(the authorizer requests OIC tokens). If you deploy the function backend, that is a "
                        "mistake",
                        "for the function backend, unset OIC_CLIENT_ID and the other OIC_* keys on the authorizer "
                        "and set them on the token-exchange function")
        return
    report.ok("topology: the authorizer validates only (the route's backend is the token-exchange function, or "
              "OIC is called without an OIC token)")


def read_function_config(path: Path) -> dict[str, str]:
    """A function's configuration as ``fn inspect function <app> <fn>`` prints it
    (``{"config": {...}}``), ``oci fn function get`` (``{"data": {"config": {...}}}``), or the settings file the
    code-only path passes to ``--config file://...`` (a plain object of strings, docs/setup-oci.md, C)."""
    document = json.loads(path.read_text())
    config = document.get("data", document).get("config") if isinstance(document, dict) else None
    if config is None and isinstance(document, dict) and not {"data", "config"} & set(document):
        config = document  # the code-only settings file itself
    if not isinstance(config, dict) or not all(isinstance(v, str) for v in config.values()):
        raise ValueError(f"{path}: no 'config' object of strings (fn inspect function, oci fn function get, or the "
                         "code-only path's settings file)")
    return {str(k): v for k, v in config.items()}


def _host(url: str) -> str:
    """The host of an https:// URL or IDCS-form scope, lower case, without port or trailing dot."""
    match = _HOST.match(url.strip())
    return match.group(1).lower().rstrip(".") if match else ""


def _certificate_dates(jwk: dict[str, Any]) -> str:
    chain = jwk.get("x5c")
    if not isinstance(chain, list) or not chain:
        return ""
    try:
        from cryptography import x509

        cert = x509.load_der_x509_certificate(base64.b64decode(chain[0]))
    except (ValueError, TypeError):
        return ", certificate unreadable"
    days = (cert.not_valid_after_utc - datetime.now(UTC)).days
    age = (datetime.now(UTC) - cert.not_valid_before_utc).days
    return f", certificate issued {age} days ago, expires in {days} days"


def check_endpoints(authorizer: Authorizer, report: Report) -> None:
    seen: set[int] = set()
    for issuer_name, issuer in authorizer.verifier.issuers.items():
        store = issuer.keys
        if id(store) in seen:
            continue
        seen.add(id(store))
        fetcher = store.fetcher
        assert isinstance(fetcher, JwksFetcher)
        started = time.monotonic()
        try:
            document = fetcher.document()
            key_set = fetcher.parse(document)
        except Exception as exc:  # report whatever went wrong, in one line
            report.fail(f"signing keys for {issuer_name}: {exc}", _keys_fix(str(exc)))
            continue
        elapsed = (time.monotonic() - started) * 1000
        report.ok(f"signing keys for {issuer_name}: {len(key_set.keys)} usable, fetched in {elapsed:.0f} ms "
                  f"from {fetcher.jwks_url()}")
        # The same document, read again for what parsing drops: the certificates.
        keys = json.loads(document).get("keys", [])
        documents = {k.get("kid"): k for k in keys if isinstance(k, dict)}
        for kid, key in sorted(key_set.keys.items()):
            report.info(f"key {kid}: {', '.join(sorted(key.algorithms))}{_certificate_dates(documents.get(kid, {}))}")
        for kid, why in key_set.rejected:
            report.warn(f"key {kid} in the set is not used: {why}")


def _keys_fix(problem: str) -> str:
    where = "IDCS_DOMAIN_URL (or JWKS_URL, or the issuer's jwks_uri in TRUSTED_ISSUERS)"
    if "HTTP 401" in problem or "HTTP 403" in problem:
        return ("the key set needs client access: turn on the domain's 'Access signing certificate', "
                "or set JWKS_CLIENT_ID and JWKS_CLIENT_SECRET (or JWKS_CLIENT_SECRET_OCID)")
    if "HTTP " in problem:
        return f"check {where}: the URL answers, but not with the key set"
    return (f"check {where}: the host must resolve and be reachable from the function's subnet "
            "(NAT or service gateway, security lists)")


def _exchange_fix(error: errors.ExchangeError) -> str:
    if isinstance(error, errors.InvalidClientError):
        return "check OIC_CLIENT_ID and OIC_CLIENT_SECRET (or OIC_CLIENT_SECRET_OCID): the app or its secret is wrong"
    if isinstance(error, errors.InvalidScopeError):
        return FIXES["OIC_SCOPE"] + ", added as a resource of the OIC app"
    if isinstance(error, errors.InvalidGrantError):
        return ("OIC_GRANT_TYPE=jwt_bearer: the user given with --subject must exist in the domain, and "
                "OIC_ASSERTION_KEY_ID must be the alias of the app's trusted certificate for OIC_ASSERTION_KEY")
    if isinstance(error, errors.SecretUnavailable):
        return ("OIC_CLIENT_SECRET_OCID / OIC_ASSERTION_KEY_OCID: the function's dynamic group needs "
                "'read secret-bundles' on the secret")
    return "check OIC_TOKEN_URL (or IDCS_DOMAIN_URL): the token endpoint must be reachable and answer"


def check_token_endpoint(env: Mapping[str, str], report: Report, subject: str | None) -> None:
    if not env.get("OIC_CLIENT_ID", "").strip():
        report.info("token exchange: not configured (no OIC_CLIENT_ID): nothing to check")
        return
    from oic_gateway.oic_tokens.exchanger import TokenExchanger
    from oic_gateway.oic_tokens.issued import unverified_claims

    try:
        exchanger = TokenExchanger.from_env(env)
    except errors.ConfigError as error:
        for single in error.each():
            report.fail(str(single), _fix_for(single.key))
        return
    if exchanger.per_subject and not subject:
        report.warn("OIC_GRANT_TYPE=jwt_bearer: give --subject <domain user> to try a user assertion")
        return
    try:
        exchanged = exchanger.token_for(subject, time.time() + 600, timeout=5.0)
    except errors.ExchangeError as error:
        report.fail(f"OIC token: {error}", _exchange_fix(error))
        return
    claims = unverified_claims(exchanged.token.access_token)
    lifetime = exchanged.token.expires_at - time.time()
    report.ok(f"OIC token obtained from {exchanger.config.token_url} (shown as claims only)")
    for name in ("iss", "aud", "scope", "sub", "sub_type", "client_id"):
        if name in claims:
            report.info(f"{name}: {claims[name]}")
    report.info(f"valid for {lifetime:.0f} s")


def _duration(seconds: float) -> str:
    """A length of time (callers say "in" or "ago"): 1h 2m 3s, 2m 3s, 3s."""
    seconds = abs(int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s" if minutes else f"{secs}s"


def explain_token(authorizer: Authorizer, token: str, report: Report, arguments: dict[str, str]) -> None:
    """The verdict, and precisely why, as the function would decide."""
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:]
    try:
        decoded = jws.decode(token)
        payload, header = decoded.payload, decoded.header
    except errors.TokenRejected as rejected:
        report.fail(f"token: REFUSED ({rejected.reason}): {rejected}",
                    "no setting changes this: give the access token alone (or 'Bearer <token>'), a compact JWS "
                    "with alg RS256, PS256 or ES256")
        return
    now = time.time()
    try:
        verified = authorizer.verify_token(token)
        path = integration_path(arguments["path"]) if "path" in arguments else None
        rule = authorizer.checks.authorize(verified.claims, path, arguments.get("method"))
    except errors.TokenRejected as rejected:
        report.fail(f"token: REFUSED ({rejected.reason}): {rejected}",
                    _why(authorizer, rejected, header, payload, now, arguments))
        return
    except errors.CannotDecide as failure:
        report.fail(f"token: CANNOT DECIDE ({failure.reason}): {failure}",
                    "the function would answer 502: " + _keys_fix(str(failure)))
        return
    claims = verified.claims
    left = claims.exp - now
    expiry = (f"expires in {_duration(left)}" if left >= 0 else
              f"expired {_duration(left)} ago, within the {authorizer.config.clock_skew} s leeway "
              "(CLOCK_SKEW_SECONDS)")
    report.ok(f"token: ACCEPTED for {claims.sub} (client {claims.client_id}), scopes {' '.join(claims.scopes)}, "
              f"{expiry}" + (f", rule {rule}" if rule else ""))


def _why(authorizer: Authorizer, rejected: errors.TokenRejected, header: dict[str, Any], payload: dict[str, Any],
         now: float, arguments: Mapping[str, str]) -> str:
    """What to do about a refusal, naming the setting (or option) involved."""
    iss = payload.get("iss")
    issuer = authorizer.verifier.issuers.get(iss) if isinstance(iss, str) else None
    leeway = authorizer.config.clock_skew
    if isinstance(rejected, errors.TokenExpired):
        exp = float(payload["exp"])
        when = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return (f"expired {_duration(now - exp)} ago (exp {when}), beyond the {leeway} s leeway "
                "(CLOCK_SKEW_SECONDS): get a new token, or check the clock")
    if isinstance(rejected, errors.TokenNotYetValid):
        return (f"issued or valid only in the future, beyond the {leeway} s leeway (CLOCK_SKEW_SECONDS): "
                "check the clocks of the issuer and of the function")
    if isinstance(rejected, errors.InvalidIssuer):
        return (f"the token's iss is {iss!r}; accepted: {', '.join(sorted(authorizer.verifier.issuers))} "
                "(TOKEN_ISSUERS, or the issuers of TRUSTED_ISSUERS)")
    if isinstance(rejected, errors.InvalidAudience) and issuer is not None:
        return (f"the token's aud is {payload.get('aud')!r}; expected one of "
                f"{', '.join(sorted(issuer.rules.audiences))} (TOKEN_AUDIENCES, or the issuer's audiences in "
                "TRUSTED_ISSUERS)")
    if isinstance(rejected, errors.UnknownKey) and issuer is not None:
        known = ", ".join(issuer.keys.status().kids) or "none"
        return (f"the token's kid {header.get('kid')!r} is not among the issuer's keys ({known}): check "
                "IDCS_DOMAIN_URL / JWKS_URL name the domain that issued it")
    if rejected.reason == "policy_no_rule":
        method = f" {arguments['method']}" if arguments.get("method") else ""
        hint = (" (an OIC 3 project integration: rules name it /project/<PROJECT>/<INTEGRATION>/..., "
                "a Gen2 rule for the same integration name does not match it)"
                if str(arguments.get("path", "")).lstrip("/").startswith("project/") else "")
        return (f"no ACCESS_POLICY rule matches the path {arguments.get('path')!r}{method}: add a rule for it to "
                f"ACCESS_POLICY, or check --path (and --method){hint}")
    if rejected.reason == "policy_denied":
        return (f"the token's scopes are {payload.get('scope', payload.get('scp'))!r}; the matching ACCESS_POLICY "
                "rule grants other scopes or clients: add the scope to the vendor app, or change the rule")
    if rejected.reason == "policy_without_path":
        return ("ACCESS_POLICY is set: give the request path with --path /<INTEGRATION>/<VERSION>/... "
                "(or /project/<PROJECT>/<INTEGRATION>/<VERSION>/... for an OIC 3 project integration)")
    if isinstance(rejected, errors.BadPath):
        return (f"the --path value {arguments.get('path')!r} breaks the path rule (docs/security.md: The path "
                "rule): give the path as the caller sends it, /<INTEGRATION>/<VERSION>/<resource path>, or "
                "/project/<PROJECT>/<INTEGRATION>/<VERSION>/<resource path> for an OIC 3 project integration")
    if isinstance(rejected, errors.InsufficientScope) and issuer is not None:
        wanted = " ".join(sorted(issuer.rules.required_scopes))
        return (f"the token's scopes are {payload.get('scope', payload.get('scp'))!r}; required any of: {wanted} "
                "(REQUIRED_SCOPES, or the issuer's required_scopes in TRUSTED_ISSUERS)")
    if isinstance(rejected, errors.InvalidSignature):
        return ("the signature does not match: the token was altered, or signed by another key than those of "
                "IDCS_DOMAIN_URL / JWKS_URL")
    if isinstance(rejected, errors.UnsupportedToken):
        return (f"alg {header.get('alg')!r} or a header member is not accepted for this issuer (RS256 by default; "
                "PS256/ES256 through the issuer's algorithms in TRUSTED_ISSUERS)")
    if rejected.reason == "bad_lifetime" and issuer is not None:
        return (f"the token's lifetime (exp - iat) is over {issuer.rules.max_lifetime} s "
                "(MAX_TOKEN_LIFETIME_SECONDS), or exp is not after iat")
    if rejected.reason.startswith(("missing_", "bad_")):
        return ("a claim is missing or has the wrong type; if it is the caller's name, choose another with the "
                "issuer's principal_claim in TRUSTED_ISSUERS")
    return f"reason {rejected.reason}: see the Troubleshooting table in docs/operations.md"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops doctor",
        description="Explain the configuration in the environment, whether the identity provider answers, and "
                    "(given a token on stdin) why the authorizer would accept or refuse it. Prints no secret.",
        epilog="exit status: 0 nothing wrong, 1 a FAIL line was printed, 2 usage error. "
               "Through make: make doctor ARGS=\"--path /HELLO_WORLD/1.0/hello\" < token",
    )
    parser.add_argument("--path", help="the request path the gateway passes (for ACCESS_POLICY), "
                                       "e.g. /HELLO_WORLD/1.0/hello, or /project/SALES/ORDERS/1.0/new for an "
                                       "OIC 3 project integration")
    parser.add_argument("--method", help="the request method (for ACCESS_POLICY rules with methods), e.g. GET")
    parser.add_argument("--subject", help="a domain user to try a user assertion with (OIC_GRANT_TYPE=jwt_bearer)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--env-file", type=Path, help="read the settings from this KEY=VALUE file (as make invoke "
                                                      "ENV=file does) instead of the environment")
    source.add_argument("--function-config", type=Path,
                        help="read the settings from a function's configuration, as `fn inspect function <app> "
                             "<fn>` or `oci fn function get --function-id <ocid>` prints it (JSON)")
    parser.add_argument("--function", choices=["authorizer", "token-exchange"],
                        help="the function these settings are for (default: told from the settings)")
    return parser


def main(argv: list[str], env: Mapping[str, str], stdin: TextIO, out: TextIO) -> int:
    options = parser().parse_args(argv)
    if options.env_file is not None or options.function_config is not None:
        try:
            env = (read_env_file(options.env_file) if options.env_file is not None
                   else read_function_config(options.function_config))
        except (OSError, ValueError) as problem:
            print(f"python -m ops doctor: {problem}", file=sys.stderr)
            return 2
    report = Report(out)
    topology(env, options.function, report)
    arguments = {name: value for name, value in (("path", options.path), ("method", options.method)) if value}
    if not check_configuration(env, report):
        report.info(f"done: {report.failures} problem(s)")
        return 1
    authorizer = build_authorizer(env, None)
    check_endpoints(authorizer, report)
    check_token_endpoint(env, report, options.subject)
    if env.get("OIC_CLIENT_ID", "").strip() and report.failures == 0:
        authorizer = build_authorizer(env, backend_factory)
    if not stdin.isatty():
        token = stdin.read().strip()
        if token:
            explain_token(authorizer, token, report, arguments)
    report.info("done: " + ("no problem found" if report.failures == 0 else f"{report.failures} problem(s)"))
    return 0 if report.failures == 0 else 1


if __name__ == "__main__":  # pragma: no cover
    import os

    sys.exit(main(sys.argv[1:], os.environ, sys.stdin, sys.stdout))
