"""`python -m local.mint KIND`: a test token from the identity provider of a
running `make up`, printed on stdout (and nothing else), for trying what the
authorizer says to each kind:

* ``valid``: the vendor's token with the ``oic-invoke`` scope (allowed);
* ``expired``: the same, expired an hour ago (401 ``token expired``);
* ``wrong-audience``: issued for another resource app (401 ``audience not accepted``);
* ``no-scope``: a genuine token with only the ``read-only`` scope (401
  ``insufficient_scope`` in the authorizer-context topology, 403 from the
  function-backend route's ``ANY_OF``).

The local identity provider signs each with its real key (``/local/mint``,
an endpoint only the local stack has; it authenticates the vendor's client).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import requests

from local.stack import RUN_DIR

KINDS = {  # kind -> (which of the vendor's scopes, variant)
    "valid": ("scope", ""),
    "expired": ("scope", "expired"),
    "wrong-audience": ("scope", "wrong-audience"),
    "no-scope": ("other_scope", ""),
}


def mint(kind: str, run_dir: Path = RUN_DIR) -> str:
    try:
        stack = json.loads((run_dir / "stack.json").read_text())
    except OSError:
        missing = run_dir / "stack.json"
        raise SystemExit(f"no running local stack ({missing} is missing): start `make up` first") from None
    scope_name, variant = KINDS[kind]
    response = requests.post(stack["idp"] + "/local/mint", auth=(stack["client_id"], stack["client_secret"]),
                             data={"scope": stack["audience"] + stack[scope_name], "variant": variant}, timeout=10)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.mint", description=__doc__.split("\n\n")[0],
                                     epilog="e.g. TOKEN=$(make -s mint KIND=expired) make invoke FN=authorizer "
                                            "< deploy/sample-authorizer-input.json")
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--run-dir", type=Path, default=RUN_DIR, help="where `make up` wrote stack.json")
    options = parser.parse_args(argv)
    print(mint(options.kind, options.run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
