"""`python -m authorizer doctor`: explain, in plain lines with a fix each,
what is wrong with a configuration, whether the identity provider answers,
and why a given token would be accepted or refused.

It reads the configuration exactly as the functions do (the environment) and
never prints a token, a signature or a secret: only claims and key ids.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from token_exchange.shared import errors, jws
from token_exchange.shared import errors as exchange_errors
from token_exchange.shared.idp import JwksFetcher
from token_exchange.shared.issuers import trusted_issuers_from_env
from token_exchange.shared.paths import integration_path
from token_exchange.shared.policy import access_policy_from_env
from token_exchange.shared.settings import integer, optional_url
from token_exchange.shared.subjects import subject_mapper_from_env
from token_exchange.shared.verifier_config import VerifierConfig

from .app import Authorizer, build_authorizer
from .exchange import backend_factory

KNOWN_KEYS = {
    "IDCS_DOMAIN_URL", "JWKS_URL", "TOKEN_ISSUERS", "TOKEN_AUDIENCES", "REQUIRED_SCOPES", "CLOCK_SKEW_SECONDS",
    "MAX_TOKEN_LIFETIME_SECONDS", "JWKS_CACHE_SECONDS", "JWKS_MAX_STALE_SECONDS", "JWKS_CLIENT_ID",
    "JWKS_CLIENT_SECRET", "JWKS_CLIENT_SECRET_OCID", "AUTH_REALM", "TRUSTED_ISSUERS", "TRUSTED_ISSUERS_FILE",
    "ACCESS_POLICY", "ACCESS_POLICY_FILE", "OIC_TOKEN_URL", "OIC_CLIENT_ID", "OIC_CLIENT_SECRET",
    "OIC_CLIENT_SECRET_OCID", "OIC_CLIENT_AUTH", "OIC_SCOPE", "OIC_GRANT_TYPE", "OIC_ASSERTION_KEY",
    "OIC_ASSERTION_KEY_OCID", "OIC_ASSERTION_KEY_ID", "OIC_ASSERTION_AUDIENCE", "OIC_TOKEN_TIMEOUT_SECONDS",
    "OIC_BASE_URL", "GATEWAY_PATH_PREFIX", "OIC_PATH_PREFIX", "CALLER_SUB_HEADER", "OIC_TIMEOUT_SECONDS",
    "OIC_SUBJECT_CLAIM", "OIC_SUBJECT_MAP", "SECRET_CACHE_SECONDS", "OCI_SECRETS_ENDPOINT",
    "INTROSPECTION_URL", "INTROSPECTION_CLIENT_ID", "INTROSPECTION_CLIENT_SECRET",
    "INTROSPECTION_CLIENT_SECRET_OCID", "INTROSPECTION_CACHE_SECONDS",
}
OUR_PREFIXES = ("IDCS_", "JWKS_", "TOKEN_", "OIC_", "REQUIRED_", "TRUSTED_", "ACCESS_", "INTROSPECTION_", "AUTH_")

FIXES = {
    "IDCS_DOMAIN_URL": "fn config app <app> IDCS_DOMAIN_URL https://idcs-<id>.identity.oraclecloud.com",
    "JWKS_URL": "leave it unset to use IDCS_DOMAIN_URL + /admin/v1/SigningCert/jwk",
    "TOKEN_AUDIENCES": "set the primary audience of the API Gateway resource app, e.g. https://<apigw-host>/",
    "TOKEN_ISSUERS": "leave unset for https://identity.oraclecloud.com/, or give the exact iss of your tokens",
    "OIC_SCOPE": "https://<oic-host>:443urn:opc:resource:consumer::all (the OIC app's resource scope)",
    "OIC_CLIENT_SECRET": "set OIC_CLIENT_SECRET_OCID to the Vault secret holding the OIC app's secret",
    "TRUSTED_ISSUERS": "see the README's 'Trusted issuers' section for the JSON shape",
    "ACCESS_POLICY": 'see the README: {"rules": [{"name": ..., "path": "/HELLO_WORLD/*", "scopes": [...]}]}',
    "OIC_TOKEN_URL": "set IDCS_DOMAIN_URL (the token endpoint is derived from it), or OIC_TOKEN_URL",
    "OIC_GRANT_TYPE": "client_credentials (the default), or jwt_bearer for user assertions",
    "OIC_CLIENT_ID": "the client id of the OIC confidential app (it needs the ServiceInvoker role)",
    "INTROSPECTION_CLIENT_SECRET": "the secret of INTROSPECTION_CLIENT_ID (better: INTROSPECTION_CLIENT_SECRET_OCID)",
}


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
    return FIXES.get(key.removesuffix("_OCID"), f"correct {key} (fn config function <app> <function> {key} ...)")


def check_configuration(env: Mapping[str, str], report: Report) -> bool:
    """Every key on its own, so that every wrong key is reported, not just the first."""
    before = report.failures
    checks: list[tuple[str, Callable[[], object]]] = [
        ("IDCS_DOMAIN_URL", lambda: optional_url(env, "IDCS_DOMAIN_URL")),
        ("JWKS_URL", lambda: optional_url(env, "JWKS_URL")),
        ("OIC_TOKEN_URL", lambda: optional_url(env, "OIC_TOKEN_URL")),
        ("OIC_BASE_URL", lambda: optional_url(env, "OIC_BASE_URL")),
        ("CLOCK_SKEW_SECONDS", lambda: integer(env, "CLOCK_SKEW_SECONDS", 60, 0, 300)),
        ("MAX_TOKEN_LIFETIME_SECONDS", lambda: integer(env, "MAX_TOKEN_LIFETIME_SECONDS", 86400, 60, 7 * 86400)),
        ("JWKS_CACHE_SECONDS", lambda: integer(env, "JWKS_CACHE_SECONDS", 900, 1, 86400)),
        ("JWKS_MAX_STALE_SECONDS", lambda: integer(env, "JWKS_MAX_STALE_SECONDS", 3600, 0, 7 * 86400)),
        ("TRUSTED_ISSUERS", lambda: trusted_issuers_from_env(env)),
        ("ACCESS_POLICY", lambda: access_policy_from_env(env)),
        ("OIC_SUBJECT_MAP", lambda: subject_mapper_from_env(env)),
    ]
    for _, check in checks:
        try:
            check()
        except exchange_errors.ConfigError as error:
            report.fail(f"configuration {error.key}: {error.problem}", _fix_for(error.key))
    if report.failures == before:
        # The combinations (what is required given what is set), exactly as the
        # functions read them; each error found is patched over to find the next.
        _every_error(env, report, VerifierConfig.from_env)
        if env.get("OIC_CLIENT_ID", "").strip():
            from token_exchange.config import ExchangeConfig

            _every_error(env, report, ExchangeConfig.from_env)
    for key in sorted(env):
        if key.startswith(OUR_PREFIXES) and key not in KNOWN_KEYS:
            report.warn(f"unknown key {key} (a typo?) is ignored", "remove it or correct its name")
    if report.failures == before:
        report.ok("configuration: every key is well formed")
    return report.failures == before


def _every_error(env: Mapping[str, str], report: Report, read: Callable[[Mapping[str, str]], object]) -> None:
    patched = dict(env)
    for _ in range(12):
        try:
            read(patched)
            return
        except (errors.ConfigError, exchange_errors.ConfigError) as error:
            report.fail(str(error), _fix_for(error.key))
            key = error.key.removesuffix("_OCID")
            if patched.get(key) or patched.get(key + "_OCID"):
                patched.pop(key, None)
                patched.pop(key + "_OCID", None)
            else:
                patched[key] = "https://placeholder.invalid" if key.endswith("_URL") else "placeholder"


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
            report.fail(f"signing keys for {issuer_name}: {exc}",
                        "check the URL; if it answers 401, turn on 'Access signing certificate' or set "
                        "JWKS_CLIENT_ID / JWKS_CLIENT_SECRET")
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


def check_token_endpoint(env: Mapping[str, str], report: Report, subject: str | None) -> None:
    if not env.get("OIC_CLIENT_ID", "").strip():
        report.info("token exchange: not configured (no OIC_CLIENT_ID): nothing to check")
        return
    from token_exchange.exchange import TokenExchanger
    from token_exchange.oauth import unverified_claims

    try:
        exchanger = TokenExchanger.from_env(env)
    except exchange_errors.ConfigError as error:
        report.fail(str(error), _fix_for(error.key))
        return
    if exchanger.per_subject and not subject:
        report.warn("OIC_GRANT_TYPE=jwt_bearer: give --subject <domain user> to try a user assertion")
        return
    try:
        exchanged = exchanger.token_for(subject, time.time() + 600, timeout=5.0)
    except exchange_errors.ExchangeError as error:
        report.fail(f"OIC token: {error}", "see the key named above")
        return
    claims = unverified_claims(exchanged.token.access_token)
    lifetime = exchanged.token.expires_at - time.time()
    report.ok(f"OIC token obtained from {exchanger.config.token_url} (shown as claims only)")
    for name in ("iss", "aud", "scope", "sub", "sub_type", "client_id"):
        if name in claims:
            report.info(f"{name}: {claims[name]}")
    report.info(f"valid for {lifetime:.0f} s")


def _duration(seconds: float) -> str:
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
        report.fail(f"token: REFUSED ({rejected.reason}): {rejected}", "the value is not a well-formed RS256 JWT")
        return
    now = time.time()
    try:
        verified = authorizer.verify_token(token)
        path = integration_path(arguments["path"]) if "path" in arguments else None
        rule = None
        if authorizer.policy is not None:
            rule = authorizer.policy.decide(verified.claims, path, arguments.get("method"))
    except errors.TokenRejected as rejected:
        report.fail(f"token: REFUSED ({rejected.reason}): {rejected}", _why(authorizer, rejected, header, payload, now))
        return
    except errors.CannotDecide as failure:
        report.fail(f"token: CANNOT DECIDE ({failure.reason}): {failure}", "the function would answer 502")
        return
    claims = verified.claims
    report.ok(f"token: ACCEPTED for {claims.sub} (client {claims.client_id}), scopes {' '.join(claims.scopes)}, "
              f"expires in {_duration(claims.exp - now)}" + (f", rule {rule}" if rule else ""))


def _why(authorizer: Authorizer, rejected: errors.TokenRejected, header: dict[str, Any], payload: dict[str, Any],
         now: float) -> str:
    iss = payload.get("iss")
    issuer = authorizer.verifier.issuers.get(iss) if isinstance(iss, str) else None
    if isinstance(rejected, errors.TokenExpired):
        exp = float(payload["exp"])
        when = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return (f"expired {_duration(now - exp)} ago (exp {when}, leeway {authorizer.config.clock_skew} s): "
                "get a new token, or check the clock")
    if isinstance(rejected, errors.TokenNotYetValid):
        return "issued or valid only in the future: check the clocks of the issuer and of the function"
    if isinstance(rejected, errors.InvalidIssuer):
        return f"the token's iss is {iss!r}; accepted: {', '.join(sorted(authorizer.verifier.issuers))}"
    if isinstance(rejected, errors.InvalidAudience) and issuer is not None:
        return (f"the token's aud is {payload.get('aud')!r}; expected one of "
                f"{', '.join(sorted(issuer.rules.audiences))} (TOKEN_AUDIENCES)")
    if isinstance(rejected, errors.UnknownKey) and issuer is not None:
        known = ", ".join(issuer.keys.status().kids) or "none"
        return f"the token's kid {header.get('kid')!r} is not among the issuer's keys ({known})"
    if isinstance(rejected, errors.InsufficientScope) and issuer is not None:
        wanted = " ".join(sorted(issuer.rules.required_scopes))
        return f"the token's scopes are {payload.get('scope', payload.get('scp'))!r}; required any of: {wanted}"
    if isinstance(rejected, errors.InvalidSignature):
        return "the signature does not match: the token was altered, or signed by another key"
    if isinstance(rejected, errors.UnsupportedToken):
        return f"alg {header.get('alg')!r} or a header member is not accepted for this issuer"
    return "see the reason above"


def main(argv: list[str], env: Mapping[str, str], stdin: TextIO, out: TextIO) -> int:
    report = Report(out)
    subject = argv[argv.index("--subject") + 1] if "--subject" in argv else None
    arguments = {}
    if "--path" in argv:
        arguments["path"] = argv[argv.index("--path") + 1]
    if "--method" in argv:
        arguments["method"] = argv[argv.index("--method") + 1]
    if not check_configuration(env, report):
        return 1
    try:
        authorizer = build_authorizer(env, None)
    except errors.ConfigError as error:
        report.fail(str(error), _fix_for(error.key))
        return 1
    check_endpoints(authorizer, report)
    check_token_endpoint(env, report, subject)
    if env.get("OIC_CLIENT_ID", "").strip() and report.failures == 0:
        try:
            authorizer = build_authorizer(env, backend_factory)
        except errors.ConfigError as error:
            report.fail(str(error), _fix_for(error.key))
    if not stdin.isatty():
        token = stdin.read().strip()
        if token:
            explain_token(authorizer, token, report, arguments)
    report.info("done: " + ("no problem found" if report.failures == 0 else f"{report.failures} problem(s)"))
    return 0 if report.failures == 0 else 1


if __name__ == "__main__":  # pragma: no cover
    import os

    sys.exit(main(sys.argv[1:], os.environ, sys.stdin, sys.stdout))
