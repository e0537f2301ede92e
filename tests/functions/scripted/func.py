"""A scripted function for pinning the local gateway's behaviour: it records
each call (body and headers) and answers what the test wrote in SCRIPT_FILE:
{"status": 200, "body": {...}, "headers": {...}, "fail": false, "sleep": 0}.
Runs under the real fdk runtime like the real functions."""

import io
import json
import os
import time

from fdk import response


def handler(ctx, data: io.BytesIO | None = None):  # type: ignore[no-untyped-def,unused-ignore]
    script = json.loads(open(os.environ["SCRIPT_FILE"]).read())
    with open(os.environ["RECORD_FILE"], "a") as record:
        record.write(json.dumps({
            "body": (data.getvalue() if data is not None else b"").decode(errors="replace"),
            "headers": {k: v for k, v in ctx.Headers().items()},
            "http_headers": {k: v for k, v in ctx.HTTPHeaders().items()},
            "method": ctx.Method(),
            "url": ctx.RequestURL(),
        }) + "\n")
    time.sleep(script.get("sleep", 0))
    if script.get("fail"):
        raise RuntimeError("scripted failure")
    body = script.get("body", {})
    return response.Response(ctx, response_data=json.dumps(body) if not isinstance(body, str) else body,
                             headers=script.get("headers", {"Content-Type": "application/json"}),
                             status_code=script.get("status", 200))
