"""`python -m local.invoke FUNCTION [--env-file FILE] < input`: call one
function exactly as the Fn agent would, without fn or Docker.

It starts the function under the real fdk runtime (``fdk func.py handler``,
``FN_FORMAT=http-stream``, a unix socket), with the settings of ``--env-file``
(``KEY=VALUE`` lines, as ``fn config`` takes them) and nothing else from your
environment, sends one ``POST /call`` over the socket, prints the status, the
headers and the body, then the function's log, and stops it.

* ``authorizer``: stdin is what API Gateway sends the authorizer
  (``deploy/sample-authorizer-input.json``).
* ``token-exchange``: stdin describes the request the gateway forwards,
  ``{"method": ..., "url": ..., "headers": {...}, "body": "..."}``
  (``deploy/sample-token-exchange-input.json``); it is sent in gateway mode
  (``Fn-Intent: httprequest``, ``Fn-Http-Method``, ``Fn-Http-Request-Url``,
  ``Fn-Http-H-*``), and the answer's ``Fn-Http-Status`` / ``Fn-Http-H-*`` are
  shown as the HTTP answer the gateway would give.

A ``<paste a token ...>`` placeholder in the input is replaced by ``--token``
(or the ``TOKEN`` environment variable). Exit status: 0 when the function
answered, 1 when it failed (fdk's 502/504), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any, TextIO

from local.fnrun import ROOT, FnProcess, FnResult
from ops.env_file import read_env_file

FUNCTIONS = {"authorizer": ROOT, "token-exchange": ROOT / "token_exchange"}
PLACEHOLDER = re.compile(r"<paste a token[^>]*>")


class UsageError(Exception):
    pass


def gateway_call(request: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers the Fn agent sends a function backend."""
    method = request.get("method", "GET")
    url = request.get("url", "/")
    headers = request.get("headers", {})
    body = request.get("body", "")
    if not isinstance(headers, dict) or not isinstance(body, str) or not isinstance(url, str):
        raise UsageError("the request must be {\"method\", \"url\", \"headers\": {...}, \"body\": \"...\"}")
    fn_headers = {"Fn-Intent": "httprequest", "Fn-Http-Method": str(method), "Fn-Http-Request-Url": url}
    for name, value in headers.items():
        if name.lower() == "content-type":
            fn_headers["Content-Type"] = str(value)  # the agent passes it as itself
        else:
            fn_headers[f"Fn-Http-H-{name}"] = str(value)
    return body.encode(), fn_headers


def show(result: FnResult, gateway_mode: bool, out: TextIO) -> None:
    status = result.status
    headers = result.headers
    if gateway_mode and status == 200:
        status = int(headers.get("fn-http-status", "200"))
        gateway = {k[len("fn-http-h-"):]: v for k, v in headers.items() if k.startswith("fn-http-h-")}
        if "content-type" in headers:  # fdk sends it as itself, as the agent expects
            gateway.setdefault("content-type", headers["content-type"])
        headers = gateway
    print(f"status: {status}" + (f" (fdk transport status {result.status})" if status != result.status else ""),
          file=out)
    for name, value in sorted(headers.items()):
        print(f"{name}: {value}", file=out)
    print("", file=out)
    text = result.body.decode(errors="replace")
    with contextlib.suppress(ValueError):
        text = json.dumps(_without_oic_token(json.loads(text)), indent=2)
    print(text, file=out)


def _without_oic_token(answer: Any) -> Any:
    """The authorizer-context answer carries the OIC token (``context.back_end_token``), valid
    for every integration: a terminal or a CI log gets its hash, as the functions' logs do."""
    context = answer.get("context") if isinstance(answer, dict) else None
    if isinstance(context, dict) and isinstance(context.get("back_end_token"), str):
        token: str = context["back_end_token"]
        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        context["back_end_token"] = f"{token.split(' ', 1)[0]} <OIC token, sha256 {digest}>"
    return answer


def main(argv: list[str], stdin: TextIO, out: TextIO, err: TextIO) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.invoke", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("function", choices=sorted(FUNCTIONS))
    parser.add_argument("--env-file", type=Path, help="the function's settings, KEY=VALUE lines")
    parser.add_argument("--token", default=os.environ.get("TOKEN", ""),
                        help="replaces a '<paste a token ...>' placeholder in the input (default: $TOKEN)")
    options = parser.parse_args(argv)
    try:
        settings = read_env_file(options.env_file) if options.env_file else {}
        if options.env_file is None:
            print("python -m local.invoke: no settings file: the function starts with no settings (`make up` "
                  "writes .run/<function>.env while it runs; or give ENV=<file> / --env-file)", file=err)
        text = stdin.read()
        if options.token:
            text = PLACEHOLDER.sub(lambda _: options.token.strip(), text)
        elif PLACEHOLDER.search(text):
            print("python -m local.invoke: the input still holds the '<paste a token ...>' placeholder: set TOKEN "
                  "(e.g. TOKEN=$(make -s mint KIND=valid) while `make up` runs)", file=err)
        gateway_mode = options.function == "token-exchange"
        if gateway_mode:
            try:
                request = json.loads(text)
            except ValueError:
                raise UsageError("stdin must be a JSON request description "
                                 "(deploy/sample-token-exchange-input.json)") from None
            if not isinstance(request, dict):
                raise UsageError("stdin must be a JSON object")
            body, headers = gateway_call(request)
        else:
            body, headers = text.encode(), {"Content-Type": "application/json"}
    except (UsageError, OSError, ValueError) as problem:  # ValueError: a malformed settings file
        print(f"python -m local.invoke: {problem}", file=err)
        return 2
    fn = FnProcess(FUNCTIONS[options.function], settings)
    try:
        fn.start()
        result = fn.call(body, headers={"Fn-Call-Id": uuid.uuid4().hex, **headers}, timeout=60)
        show(result, gateway_mode, out)
    finally:
        fn.stop()
        log = fn.output().strip()
        if log:
            print(f"\n--- the function's log ({options.function}) ---\n{log}", file=err)
    return 0 if result.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], sys.stdin, sys.stdout, sys.stderr))
