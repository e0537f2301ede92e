"""Secrets from OCI Vault: the real ``oci`` SDK, a resource-principal v2.2
environment made here, and a loopback secrets endpoint that verifies the
SDK's request signatures."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from local.fnrun import ROOT
from local.seed import Seeded
from local.vault import VaultStub
from tests import tokens
from tests.conftest import start_fn
from tests.function.test_backend_fn import BACKEND_DIR, bearer, gateway_call, log_line
from tests.tokens import SENSITIVE, Signer, single

SECRET_OCID = "ocid1.vaultsecret.oc1.iad.amaaaaaaoicclientsecret"


@pytest.fixture(scope="module")
def resource_principal() -> tuple[Signer, str]:
    key, rpst = tokens.resource_principal()
    SENSITIVE.add(rpst)
    return key, rpst


@pytest.fixture
def vault(resource_principal: tuple[Signer, str]) -> Iterator[VaultStub]:
    key, rpst = resource_principal
    stub = VaultStub(key.key.public_key(), rpst)
    yield stub
    stub.stop()


def rp_env(resource_principal: tuple[Signer, str], vault: VaultStub) -> dict[str, str]:
    return tokens.resource_principal_env(*resource_principal, vault.url)


def test_backend_reads_its_client_secret_from_vault_and_follows_rotation(
    stack: Seeded, vault: VaultStub, resource_principal: tuple[Signer, str]
) -> None:
    vault.secrets[SECRET_OCID] = stack.oic_client_secret
    env = {
        **stack.authorizer_env(),
        **stack.exchange_env(OIC_CLIENT_SECRET="", OIC_CLIENT_SECRET_OCID=SECRET_OCID),
        **rp_env(resource_principal, vault),
        "OIC_BASE_URL": stack.oic.url,
    }
    auth = bearer(stack.vendor_token())
    with start_fn(env, BACKEND_DIR) as fn:
        assert gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", auth)["status"] == 200
        assert vault.reads[SECRET_OCID] == 1 and vault.rejected == 0
        # Rotate the secret in the identity domain and in Vault; no redeploy.
        rotated = "rotated-" + stack.oic_client_secret
        SENSITIVE.add(rotated)
        stack.idp.apps["oic-client"].client_secret = rotated
        vault.secrets[SECRET_OCID] = rotated
        try:
            stack.oic.fault = "reject_next:1"  # OIC refuses the old token: a new one is needed
            assert gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", auth)["status"] == 200
            assert vault.reads[SECRET_OCID] == 2  # re-read once on invalid_client
        finally:
            stack.idp.apps["oic-client"].client_secret = stack.oic_client_secret
            stack.oic.fault = None


def test_authorizer_context_with_vault_secret(
    stack: Seeded, vault: VaultStub, resource_principal: tuple[Signer, str]
) -> None:
    vault.secrets[SECRET_OCID] = stack.oic_client_secret
    env = {**stack.authorizer_env(), **stack.exchange_env(OIC_CLIENT_SECRET="", OIC_CLIENT_SECRET_OCID=SECRET_OCID),
           **rp_env(resource_principal, vault)}
    with start_fn(env, ROOT) as fn:
        answer = fn.call(single(stack.vendor_token())).json()
        assert answer["active"] is True and answer["context"]["back_end_token"].startswith("Bearer ")


def test_missing_vault_secret_is_a_clear_failure(
    stack: Seeded, vault: VaultStub, resource_principal: tuple[Signer, str]
) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env(OIC_CLIENT_SECRET="", OIC_CLIENT_SECRET_OCID=SECRET_OCID),
           **rp_env(resource_principal, vault), "OIC_BASE_URL": stack.oic.url}
    with start_fn(env, BACKEND_DIR) as fn:
        reply = gateway_call(fn, "GET", "/HELLO_WORLD/1.0/x", bearer(stack.vendor_token()))
        assert reply["status"] == 502 and json.loads(reply["body"])["error"] == "token_unavailable"
        detail = log_line(fn, reply["call_id"])["detail"]  # the reason is for operators only
        assert SECRET_OCID in detail and "404" in detail


@pytest.mark.parametrize(
    "env, key",
    [
        ({"OIC_CLIENT_SECRET": "x", "OIC_CLIENT_SECRET_OCID": SECRET_OCID}, "OIC_CLIENT_SECRET"),
        ({"OIC_CLIENT_SECRET_OCID": "not-an-ocid"}, "OIC_CLIENT_SECRET_OCID"),
    ],
)
def test_secret_settings_are_validated(env: dict[str, str], key: str) -> None:
    from oic_gateway.errors import ConfigError
    from oic_gateway.net.secret_sources import secret_from_env

    with pytest.raises(ConfigError) as caught:
        secret_from_env(env, "OIC_CLIENT_SECRET", required=True)
    assert caught.value.key == key


PROBE = """
import json, sys
from authorizer.app import build_authorizer
from authorizer.context_token import backend_factory
env = json.loads(sys.argv[1])
authorizer = build_authorizer(env, backend_factory)
print(json.dumps({"answer": json.loads(authorizer.handle(sys.argv[2].encode())),
                  "oci_imported": "oci" in sys.modules}))
"""


def test_oci_is_not_imported_without_an_ocid_setting(stack: Seeded) -> None:
    env = {**stack.authorizer_env(), **stack.exchange_env()}
    body = json.dumps(single(stack.vendor_token()))
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(env), body], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["answer"]["active"] is True
    assert result["oci_imported"] is False
