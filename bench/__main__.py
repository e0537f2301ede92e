"""`make bench`: what the authorizer (and the backend's own verification) costs, beside baselines, in one run.

This machine is shared and noisy: every figure is a median (or a count), and
each is printed as a ratio to a baseline measured in the same run, with the
calls interleaved so that both see the same noise. Nothing here is a test.

    python -m bench            # everything (a few minutes)
    python -m bench inprocess  # one step: inprocess, warm, cold, cold-vault, idp, rss, footprint, archive,
                               # introspection, backend, fleet
    python -m bench --quick    # every step with tiny counts (seconds): that each runs, not what it measures
    python -m bench --archives DIR cold archive  # the code-only archives in DIR (default: dist/, rebuilt if stale)
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import multiprocessing
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.fnrun import FDK, FnProcess  # noqa: E402
from ops import archive  # noqa: E402
from tests.servers import JwksServer  # noqa: E402
from tests.tokens import AUDIENCE, Signer, authorizer_env, resource_principal, resource_principal_env, single  # noqa: E402

HANDLERS = ROOT / "bench" / "handlers"


@dataclass
class Row:
    figure: str
    ours: str
    baseline: str
    ratio: str
    goal: str
    ok: bool


ROWS: list[Row] = []


def row(figure: str, ours: str, baseline: str, ratio: str, goal: str, ok: bool) -> None:
    ROWS.append(Row(figure, ours, baseline, ratio, goal, ok))
    print(f"  {figure}: ours {ours} | baseline {baseline} | {ratio} | goal {goal} | {'PASS' if ok else 'MISS'}",
          flush=True)


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


# -- 1 and 2: in-process decisions ---------------------------------------------------


def bench_inprocess(n: int = 3000) -> None:
    import gc

    import jwt
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from authorizer.app import build_authorizer

    print(f"in-process decisions ({n} distinct tokens, interleaved)", flush=True)
    signer = Signer.generate()
    server = JwksServer([signer.jwk()]).start()
    try:
        authorizer = build_authorizer(authorizer_env(server.url))
        authorizer._log._stream = open(os.devnull, "w")
        tokens = [signer.mint() for _ in range(n + 1)]
        bodies = [json.dumps(single(t)).encode() for t in tokens]
        authorizer.handle(bodies[0])  # keys fetched: not part of a decision
        public_key = signer.key.public_key()
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

        def bare(token: str) -> None:
            head, _, sig = token.rpartition(".")
            public_key.verify(base64.urlsafe_b64decode(sig + "=="), head.encode(), pkcs1, sha256)

        def pyjwt(token: str) -> None:
            jwt.decode(token, public_key, algorithms=["RS256"], audience=AUDIENCE,
                       issuer="https://identity.oraclecloud.com/",
                       options={"require": ["exp", "iat", "iss", "aud", "sub"]})

        gc.collect()
        gc.freeze()
        from authorizer.event import parse_request

        def decision(i: int) -> bytes:
            # The decision as the goal defines it: parse the gateway's body,
            # verify, check claims and policy, render the answer. No cache
            # bookkeeping, no log line: the next series has those.
            verified = authorizer.verify_token(parse_request(bodies[i]).token)
            return authorizer.render_allowed(verified, "0123456789abcdef").body

        series: dict[str, list[float]] = {"bare": [], "pyjwt": [], "decision": [], "first": [], "again": []}
        work: dict[str, Callable[[int], object]] = {
            "bare": lambda i: bare(tokens[i]),
            "pyjwt": lambda i: pyjwt(tokens[i]),
            "decision": decision,
            "first": lambda i: authorizer.handle(bodies[i], "call"),  # each body seen for the first time
            "again": lambda i: authorizer.handle(bodies[i], "call"),  # the same bodies, seen before
        }
        clock = time.perf_counter
        # Interleaved in blocks of 100 calls: every series sees the same noise,
        # and each runs with warm caches, as a function serving a stream does.
        for start in range(1, n + 1, 100):
            block = range(start, min(start + 100, n + 1))
            for name, run in work.items():
                samples = series[name]
                for i in block:
                    t0 = clock()
                    run(i)
                    samples.append(clock() - t0)
        b, p, d, f, a = (median_us(series[k]) for k in ("bare", "pyjwt", "decision", "first", "again"))
        row("in-process decision, first-seen token (parse, verify, claims, policy, response)", f"{d:.0f} µs",
            f"bare verify {b:.0f} µs; PyJWT {p:.0f} µs", f"{d / b:.2f}x bare ({p / b:.1f}x for PyJWT)",
            "<= 3x bare verify", d / b <= 3.0)
        row("whole handle(), first-seen token (plus 2 cache lookups and inserts, the log line)", f"{f:.0f} µs",
            f"bare verify {b:.0f} µs; PyJWT {p:.0f} µs", f"{f / b:.2f}x bare; {f / p:.2f}x PyJWT decode alone",
            "reported", True)
        row("in-process decision, token seen before", f"{a:.1f} µs", f"bare verify {b:.0f} µs",
            f"{a / b:.2f}x bare", "<= 15 µs", a <= 15.0)
    finally:
        server.stop()


# -- 3: warm calls through the fdk runtime ---------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_warm(n: int = 2000, warmup: int = 200) -> None:
    print(f"warm calls through fdk ({n} per series, interleaved with the trivial handler)", flush=True)
    signer = Signer.generate()
    server = JwksServer([signer.jwk()]).start()
    ours = FnProcess(ROOT, authorizer_env(server.url)).start()
    trivial = FnProcess(HANDLERS / "trivial", {}).start()
    try:
        repeated = json.dumps(single(signer.mint())).encode()
        distinct = [json.dumps(single(signer.mint())).encode() for _ in range(n)]
        for _ in range(warmup):  # warm both (imports, keys, connections)
            ours.call(repeated)
            trivial.call(repeated)
        for label, bodies, goal in (("repeated token", [repeated] * n, 1.15), ("distinct tokens", distinct, 1.50)):
            t_ours: list[float] = []
            t_trivial: list[float] = []
            for i, body in enumerate(bodies):
                first, second = (ours, trivial) if i % 2 else (trivial, ours)
                r1 = first.call(body)
                r2 = second.call(body)
                (t_ours if first is ours else t_trivial).append(r1.seconds)
                (t_ours if second is ours else t_trivial).append(r2.seconds)
                if i == 0 and b'"active":true' not in (r1.body if first is ours else r2.body):
                    raise RuntimeError("the authorizer did not allow a valid token")
            o, t = statistics.median(t_ours) * 1e3, statistics.median(t_trivial) * 1e3
            row(f"warm call via fdk, {label} (p50)", f"{o:.3f} ms (p99 {percentile(t_ours, 0.99) * 1e3:.2f})",
                f"trivial {t:.3f} ms", f"{o / t:.2f}x", f"<= {goal}x trivial", o / t <= goal)
    finally:
        ours.stop()
        trivial.stop()
        server.stop()


# -- 4: cold start -------------------------------------------------------------------


def cold_once(func_dir: Path, env: dict[str, str], body: bytes, extra_env: dict[str, str] | None = None,
              tree: Path | None = None) -> float:
    """Spawn to the first correct decision. ``tree``: an unpacked code-only archive, run as the managed runtime
    would (the bare interpreter with -S, ``function:python`` only; ops/archive.py RUNTIME_START)."""
    if tree is None:
        fn = FnProcess(func_dir, {**env, **(extra_env or {})})
    else:
        fn = FnProcess(tree / "function", {**env, **(extra_env or {})}, command=archive.runtime_command(),
                       pythonpath=f"{tree / 'function'}:{tree / 'python'}")
    started = time.perf_counter()
    fn.start()
    try:
        result = fn.call(body, fresh_connection=True)
        elapsed = time.perf_counter() - started
        if json.loads(result.body).get("active") is not True:
            raise RuntimeError(f"{func_dir.name}: no correct decision: {result.body[:200]!r}")
        return elapsed
    finally:
        fn.stop()


def oci_imported_by_first_call(func_dir: Path, env: dict[str, str], body: bytes) -> bool:
    """Python's own import log (PYTHONPROFILEIMPORTTIME) says whether the
    process imported the top-level ``oci`` package by the end of the first call."""
    fn = FnProcess(func_dir, {**env, "PYTHONPROFILEIMPORTTIME": "1"}).start()
    try:
        fn.call(body)
    finally:
        fn.stop()
    return any(line.split("|")[-1].strip() == "oci"
               for line in fn.output().splitlines() if line.startswith("import time:"))


def bench_cold(runs: int = 7) -> None:
    print(f"cold starts ({runs} of each, interleaved; process start to first correct decision): the trivial and "
          "sample-like handlers, the authorizer from the repository and from its code-only archive", flush=True)
    signer = Signer.generate()
    server = JwksServer([signer.jwk()]).start()
    scratch = tempfile.TemporaryDirectory(prefix="bench-archive")
    try:
        tree = Path(scratch.name)
        with zipfile.ZipFile(archives()["oic-authorizer"]) as opened:
            opened.extractall(tree)  # bytecode included: nothing to write at start
        env = authorizer_env(server.url)
        body = json.dumps(single(signer.mint())).encode()
        times: dict[str, list[float]] = {"trivial": [], "sample": [], "ours": [], "archive": []}
        cold_once(ROOT, env, body)  # .pyc files written once, as in a built image
        cold_once(HANDLERS / "samplelike", env, body)
        cold_once(ROOT, env, body, tree=tree)  # the page cache warmed for the tree too
        for _ in range(runs):
            times["trivial"].append(cold_once(HANDLERS / "trivial", env, body))
            times["sample"].append(cold_once(HANDLERS / "samplelike", env, body))
            times["ours"].append(cold_once(ROOT, env, body))
            times["archive"].append(cold_once(ROOT, env, body, tree=tree))
        t, s, o, a = (statistics.median(times[k]) * 1e3 for k in ("trivial", "sample", "ours", "archive"))
        row("cold start to first decision (median)", f"{o:.0f} ms", f"trivial {t:.0f} ms; sample-like {s:.0f} ms",
            f"trivial + {o - t:.0f} ms; {o / s:.2f}x sample-like", "<= trivial + 400 ms and <= 0.6x sample-like",
            o - t <= 400 and o / s <= 0.6)
        row("cold start from the code-only archive tree (median; -S, function:python only)", f"{a:.0f} ms",
            f"repository tree {o:.0f} ms; trivial {t:.0f} ms", f"{a / o:.2f}x the repository tree; trivial + "
            f"{a - t:.0f} ms", "no slower than the repository tree (10 % for noise)", a <= o * 1.10)
        imported = oci_imported_by_first_call(ROOT, env, body)
        sample = oci_imported_by_first_call(HANDLERS / "samplelike", env, body)
        row("`oci` imported without *_OCID settings", "yes" if imported else "no",
            f"sample-like: {'yes' if sample else 'no'}", "-", "no", not imported and sample)
    finally:
        server.stop()
        scratch.cleanup()


def bench_cold_vault(runs: int = 5) -> None:
    """The authorizer-context authorizer with its OIC client secret in Vault (OIC_CLIENT_SECRET_OCID): its first
    decision imports the oci SDK, signs with the resource principal, reads the secret from the loopback Vault and
    gets the OIC token, so this is the cold start the trimmed SDK must not slow."""
    from local.seed import seeded_stack
    from local.vault import VaultStub

    print(f"cold starts with a Vault-backed secret ({runs} of each, interleaved; process start to the first "
          "allow with its OIC token): the authorizer-context authorizer from the repository and from its archive",
          flush=True)
    seeded = seeded_stack()
    key, rpst = resource_principal("ocid1.fnfunc.oc1.iad.bench")
    vault = VaultStub(key.key.public_key(), rpst)
    secret_ocid = "ocid1.vaultsecret.oc1.iad.amaaaaaabenchoicsecret"
    vault.secrets[secret_ocid] = seeded.oic_client_secret
    scratch = tempfile.TemporaryDirectory(prefix="bench-archive")
    try:
        tree = Path(scratch.name)
        with zipfile.ZipFile(archives()["oic-authorizer"]) as opened:
            opened.extractall(tree)
        env = {**seeded.authorizer_env(),
               **seeded.exchange_env(OIC_CLIENT_SECRET="", OIC_CLIENT_SECRET_OCID=secret_ocid),
               **resource_principal_env(key, rpst, vault.url)}
        body = json.dumps(single(seeded.vendor_token())).encode()
        times: dict[str, list[float]] = {"ours": [], "archive": []}
        cold_once(ROOT, env, body)  # bytecode written once, page cache warmed, as above
        cold_once(ROOT, env, body, tree=tree)
        reads = vault.reads[secret_ocid]
        for _ in range(runs):
            times["ours"].append(cold_once(ROOT, env, body))
            times["archive"].append(cold_once(ROOT, env, body, tree=tree))
        if vault.reads[secret_ocid] - reads != 2 * runs or vault.rejected:
            raise RuntimeError(f"the secret was not read once per cold start: {vault.reads[secret_ocid] - reads} "
                               f"reads for {2 * runs} starts, {vault.rejected} rejected")
        o, a = (statistics.median(times[k]) * 1e3 for k in ("ours", "archive"))
        row("cold start with a Vault-backed secret, from the code-only archive tree (median)", f"{a:.0f} ms",
            f"repository tree {o:.0f} ms", f"{a / o:.2f}x the repository tree",
            "no slower than the repository tree (10 % for noise)", a <= o * 1.10)
    finally:
        vault.stop()
        seeded.stop()
        scratch.cleanup()


# -- 5: identity-provider requests ------------------------------------------------------


def bench_idp(clients: int = 100, rounds: int = 100) -> None:
    from local.seed import seeded_stack

    total = clients * rounds
    print(f"identity-provider requests, authorizer-context ({total} authorizations over {clients} tokens)",
          flush=True)
    stack = seeded_stack()
    try:
        tokens = [json.dumps(single(stack.vendor_token())).encode() for _ in range(clients)]
        before = sum(stack.idp.requests.values())
        with FnProcess(ROOT, {**stack.authorizer_env(), **stack.exchange_env()}) as fn:
            for i in range(total):
                result = fn.call(tokens[i % clients])
                if b"back_end_token" not in result.body:
                    raise RuntimeError(f"no OIC token in answer {i}")
        used = sum(stack.idp.requests.values()) - before
        model = 2 * total  # the public sample: introspection + client credentials per authorization
        row(f"IdP requests for {total} authorizations", str(used), f"sample model {model}",
            f"{used / model:.5f}x", "<= 2", used <= 2)
    finally:
        stack.stop()


# -- 6: memory ---------------------------------------------------------------------


def _mint_chunk(args: tuple[bytes, int]) -> list[bytes]:
    pem, count = args
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    signer = Signer("SIGNING_KEY", load_pem_private_key(pem, None))  # type: ignore[arg-type]
    return [json.dumps(single(signer.mint())).encode() for _ in range(count)]


RSS_PROBE = """
import json, resource, sys, os, io
sys.path.insert(0, sys.argv[1])
from authorizer.app import build_authorizer
authorizer = build_authorizer(json.loads(sys.argv[2]))
authorizer._log._stream = open(os.devnull, "w")
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
count = 0
baseline = None
for line in sys.stdin.buffer:
    assert b'"active":true' in authorizer.handle(line.rstrip(b"\\n"))
    count += 1
    if count == int(sys.argv[3]):
        baseline = rss_mb()
print(json.dumps({"count": count, "baseline_mb": baseline, "peak_mb": rss_mb()}))
"""


def bench_rss(total: int = 100_000, chunk: int = 2000, baseline_at: int = 5000) -> None:
    from cryptography.hazmat.primitives import serialization

    print(f"memory: {total} distinct valid tokens in-process (peak RSS vs after {baseline_at:,})", flush=True)
    signer = Signer.generate()
    server = JwksServer([signer.jwk()]).start()
    pem = signer.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    probe = subprocess.Popen([sys.executable, "-c", RSS_PROBE, str(ROOT), json.dumps(authorizer_env(server.url)),
                              str(baseline_at)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
    assert probe.stdin is not None and probe.stdout is not None
    try:
        with multiprocessing.Pool(max(1, (os.cpu_count() or 2))) as pool:
            for bodies in pool.imap(_mint_chunk, [(pem, chunk)] * (total // chunk)):
                probe.stdin.write(b"\n".join(bodies) + b"\n")
        probe.stdin.close()
        result = json.loads(probe.stdout.read())
        probe.wait(timeout=60)
    finally:
        server.stop()
    growth = result["peak_mb"] - result["baseline_mb"]
    row(f"peak RSS after {result['count']} distinct tokens", f"{result['peak_mb']:.0f} MB",
        f"after {baseline_at:,}: {result['baseline_mb']:.0f} MB", f"+{growth:.1f} MB", "growth <= 50 MB", growth <= 50)


# -- 7: footprint --------------------------------------------------------------------


@functools.cache
def closure(requirements: Path) -> dict[str, tuple[int, int]]:
    """Installed size (bytes) and file count of each distribution a requirements file pulls in."""
    from importlib import metadata

    from packaging.requirements import Requirement

    def size(dist: metadata.Distribution) -> tuple[int, int]:
        total = files = 0
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
                files += 1
        return total, files

    # A hashed lock: continuation lines joined, --hash options dropped.
    text = re.sub(r"\\\n", " ", requirements.read_text())
    lines = [re.sub(r"\s--hash=\S+", "", line.split("#")[0]).strip() for line in text.splitlines()]
    pinned = [Requirement(line) for line in lines if line and not line.startswith("-")]
    pending = [r.name for r in pinned if r.marker is None or r.marker.evaluate()]  # universal lock: skip win32 pins
    seen: dict[str, tuple[int, int]] = {}
    while pending:
        name = pending.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        dist = metadata.distribution(name)
        seen[key] = size(dist)
        for spec in dist.requires or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


def bench_footprint() -> None:
    print("function image footprint (installed size of each requirements.txt's closure)", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        fdk_list = Path(scratch) / "fdk-only.txt"
        fdk_list.write_text("fdk\n")
        fdk_only = sum(b for b, _ in closure(fdk_list).values())
    for label, path in (("authorizer", ROOT / "requirements.txt"),
                        ("token exchange", ROOT / "token_exchange" / "requirements.txt")):
        sizes = {name: b for name, (b, _) in closure(path).items()}
        total = sum(sizes.values())
        top = ", ".join(f"{name} {b / 1e6:.0f} MB" for name, b in sorted(sizes.items(), key=lambda x: -x[1])[:3])
        row(f"footprint: {label}", f"{total / 1e6:.0f} MB", f"fdk alone {fdk_only / 1e6:.0f} MB",
            f"{total / fdk_only:.1f}x; largest: {top}", "reported", True)


# -- 7b: the code-only archives -------------------------------------------------------------

ARCHIVES: Path | None = None  # --archives: use the zips there as they are


@functools.cache
def archives() -> dict[str, Path]:
    """The code-only archives: --archives DIR as given, else dist/ (rebuilt first if any input is newer)."""
    names = [f.name for f in archive.FUNCTIONS]
    if ARCHIVES is not None:
        return {name: ARCHIVES / f"{name}.zip" for name in names}
    if not archive.fresh():
        print("  dist/ is missing or older than its inputs: building the archives (make archive)", flush=True)
        return archive.build()
    return {name: archive.DIST / f"{name}.zip" for name in names}


def bench_archive() -> None:
    print("code-only archives (make archive): zipped, files and unpacked, beside today's tree", flush=True)
    for function in archive.FUNCTIONS:
        requirements = function.folder / "requirements.txt"
        today = closure(requirements).values()
        today_bytes, today_files = sum(b for b, _ in today), sum(f for _, f in today)
        zipped, files, unpacked = archive.footprint(archives()[function.name])
        row(f"code-only archive: {function.name}", f"{zipped / 1e6:.1f} MB zipped, {files:,} files, "
            f"{unpacked / 1e6:.1f} MB unpacked", f"today's tree ({requirements.relative_to(ROOT)}'s closure as "
            f"installed here): {today_files:,} files, {today_bytes / 1e6:.0f} MB",
            f"{files / today_files:.2f}x the files, {unpacked / today_bytes:.2f}x the bytes",
            "<= 25 MB zipped (direct upload), <= 5,000 files", zipped <= 25_000_000 and files <= 5_000)


def bench_introspection(n: int = 300, warmup: int = 50) -> None:
    from local.seed import AUTHORIZER_ID, seeded_stack

    print(f"introspection cost: warm calls via fdk, {n} new tokens each, interleaved", flush=True)
    stack = seeded_stack()
    try:
        env = stack.authorizer_env()
        checked_env = {**env, "IDCS_DOMAIN_URL": stack.idp.url, "INTROSPECTION_CLIENT_ID": AUTHORIZER_ID,
                       "INTROSPECTION_CLIENT_SECRET": stack.authorizer_secret}
        with FnProcess(ROOT, env) as plain, FnProcess(ROOT, checked_env) as checked:
            warm = json.dumps(single(stack.vendor_token())).encode()
            for _ in range(warmup):
                plain.call(warm)
                checked.call(warm)
            t_plain: list[float] = []
            t_checked: list[float] = []
            for _ in range(n):
                body = json.dumps(single(stack.vendor_token())).encode()
                t_plain.append(plain.call(body).seconds)
                t_checked.append(checked.call(body).seconds)
        p, c = statistics.median(t_plain) * 1e3, statistics.median(t_checked) * 1e3
        row("first decision with introspection (p50, loopback IdP)", f"{c:.2f} ms", f"without {p:.2f} ms",
            f"+{c - p:.2f} ms ({c / p:.1f}x)", "reported (cached verdicts cost nothing)", True)
    finally:
        stack.stop()


# -- 8: the backend verifying its caller ---------------------------------------------------


def bench_backend(n: int = 2000, warmup: int = 100) -> None:
    """What the token-exchange backend's own verification of its caller costs: in-process
    (a token seen before, and a new one), and a whole warm backend call through fdk (OIC on
    loopback) beside a trivial fdk call, all in the same run."""
    import requests

    from local.seed import seeded_stack
    from oic_gateway.caller import CallerVerifier
    from oic_gateway.oic_tokens.exchanger import TokenExchanger

    print(f"backend caller verification ({n} calls per series, interleaved)", flush=True)
    signer = Signer.generate()
    server = JwksServer([signer.jwk()]).start()
    try:
        callers = CallerVerifier.from_env(authorizer_env(server.url))
        seen = "Bearer " + signer.mint()
        fresh = ["Bearer " + signer.mint() for _ in range(n)]
        callers.verify(seen)  # keys fetched, the token cached: what a warm container has
        clock = time.perf_counter
        t_seen: list[float] = []
        t_fresh: list[float] = []
        for header in fresh:
            t0 = clock()
            callers.verify(seen)
            t1 = clock()
            callers.verify(header)
            t_fresh.append(clock() - t1)
            t_seen.append(t1 - t0)
    finally:
        server.stop()
    stack = seeded_stack()
    try:
        env = {**stack.authorizer_env(), **stack.exchange_env(), "OIC_BASE_URL": stack.oic.url}
        framing = {"Fn-Intent": "httprequest", "Fn-Http-Method": "GET", "Fn-Http-Request-Url": "/HELLO_WORLD/1.0/x",
                   "Fn-Http-H-Authorization": "Bearer " + stack.vendor_token()}
        with FnProcess(ROOT / "token_exchange", env) as backend, FnProcess(HANDLERS / "trivial", {}) as trivial:
            for _ in range(warmup):
                backend.call(b"", headers=framing)
                trivial.call(b"")
            oic_token = TokenExchanger.from_env(stack.exchange_env()).token_for().authorization
            session = requests.Session()
            t_backend: list[float] = []
            t_trivial: list[float] = []
            t_oic: list[float] = []
            for _ in range(n // 4):
                result = backend.call(b"", headers=framing)
                if result.headers.get("fn-http-status", "200") != "200":
                    raise RuntimeError(f"the backend refused the call: {result.body[:200]!r}")
                t_backend.append(result.seconds)
                t_trivial.append(trivial.call(b"").seconds)
                t0 = time.perf_counter()  # what the backend's OIC request costs on its own
                session.get(stack.oic.url + "/ic/api/integration/v1/flows/rest/HELLO_WORLD/1.0/x",
                            headers={"Authorization": oic_token}, timeout=10).raise_for_status()
                t_oic.append(time.perf_counter() - t0)
    finally:
        stack.stop()
    s_us, f_us = median_us(t_seen), median_us(t_fresh)
    b_ms, t_ms, o_ms = (statistics.median(t) * 1e3 for t in (t_backend, t_trivial, t_oic))
    row("backend: caller verification, token seen before (in-process)", f"{s_us:.1f} µs",
        f"trivial fdk call {t_ms:.3f} ms", f"{s_us / (t_ms * 1000):.3f}x a trivial call", "< 200 µs", s_us < 200)
    row("backend: caller verification, first-seen token (in-process)", f"{f_us:.0f} µs",
        f"token seen before {s_us:.1f} µs", f"{f_us / s_us:.0f}x", "reported", True)
    row("backend: whole warm call via fdk (verify, cached OIC token, loopback OIC)", f"{b_ms:.3f} ms",
        f"trivial fdk call {t_ms:.3f} ms; the OIC stub alone {o_ms:.3f} ms",
        f"trivial + OIC + {b_ms - t_ms - o_ms:.2f} ms", "reported", True)


def bench_fleet_cache(n: int = 2000, block: int = 100) -> None:
    """The fleet cache over TLS to a local redis-server, beside an in-process hit.
    The token endpoint is a function returning at once: a miss is the cache's
    own cost (GET, GET back-off, SET NX, SET, DEL), not the identity provider's."""
    from local.redis_server import RedisServer
    from oic_gateway.oic_tokens.cache import TokenCache
    from oic_gateway.oic_tokens.fleet_cache import CircuitBreaker, FleetCache
    from oic_gateway.oic_tokens.fleet_store import FleetCacheConfig, RedisStore
    from oic_gateway.oic_tokens.issued import IssuedToken

    print(f"fleet cache: {n} in-process hits, shared-cache hits and misses, interleaved (TLS, loopback)", flush=True)
    server = RedisServer().start()
    try:
        key = os.urandom(32)
        settings = FleetCacheConfig.from_env({**server.env(base64.b64encode(key).decode()),
                                                "SHARED_CACHE_TIMEOUT_MS": "1000"})
        assert settings is not None
        store = RedisStore(settings)
        fleet = FleetCache(store, lambda: key, breaker=CircuitBreaker(time.monotonic))
        local = TokenCache(time.time)

        def endpoint() -> IssuedToken:
            now = time.time()
            return IssuedToken("x" * 900, "Bearer", now + 3600, now)  # about the size of an IDCS token

        def serve_until(token: IssuedToken) -> float:
            return token.expires_at - 600

        local.get("hit", endpoint)
        fleet.token("hit", endpoint, serve_until=serve_until, deadline=time.monotonic() + 5)
        timings: dict[str, list[float]] = {"local": [], "hit": [], "miss": []}
        for start in range(0, n, block):
            for _ in range(block):
                t = time.perf_counter()
                local.get("hit", endpoint)
                timings["local"].append(time.perf_counter() - t)
            for _ in range(block):
                t = time.perf_counter()
                fleet.token("hit", endpoint, serve_until=serve_until, deadline=time.monotonic() + 5)
                timings["hit"].append(time.perf_counter() - t)
            for i in range(start, start + block):
                t = time.perf_counter()
                fleet.token(f"miss-{i}", endpoint, serve_until=serve_until, deadline=time.monotonic() + 5)
                timings["miss"].append(time.perf_counter() - t)
        assert fleet.stats.bypasses == 0, fleet.stats
        local_us, hit_us, miss_us = (median_us(timings[k]) for k in ("local", "hit", "miss"))
        row("shared-cache hit (p50: GET over TLS, AES-GCM open)", f"{hit_us:.0f} µs",
            f"in-process hit {local_us:.1f} µs", f"+{hit_us - local_us:.0f} µs", "reported (once per container "
            "per token; in-process hits after)", True)
        row("shared-cache miss (p50: 5 round trips around an instant fetch)", f"{miss_us:.0f} µs",
            f"shared-cache hit {hit_us:.0f} µs", f"{miss_us / hit_us:.1f}x a hit", "reported (once per token "
            "for the whole fleet)", True)
        store.close()
    finally:
        server.stop()


# Each step, and its counts in --quick mode: every step runs, with figures that mean little.
FIGURES: dict[str, tuple[Callable[..., None], dict[str, int]]] = {
    "inprocess": (bench_inprocess, {"n": 100}),
    "warm": (bench_warm, {"n": 20, "warmup": 10}),
    "cold": (bench_cold, {"runs": 1}),
    "cold-vault": (bench_cold_vault, {"runs": 1}),
    "idp": (bench_idp, {"clients": 5, "rounds": 2}),
    "rss": (bench_rss, {"total": 1000, "chunk": 250, "baseline_at": 500}),
    "footprint": (bench_footprint, {}),
    "archive": (bench_archive, {}),
    "introspection": (bench_introspection, {"n": 5, "warmup": 5}),
    "backend": (bench_backend, {"n": 40, "warmup": 5}),
    "fleet": (bench_fleet_cache, {"n": 100, "block": 50}),
}


def main(argv: list[str] | None = None) -> int:
    global ARCHIVES
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("steps", nargs="*", metavar="step", help="any of: " + ", ".join(FIGURES) + " (default: all)")
    parser.add_argument("--quick", action="store_true", help="every step with tiny counts (make test runs it)")
    parser.add_argument("--archives", type=Path, help="the code-only archives to measure (default: dist/)")
    args = parser.parse_args(argv)
    ARCHIVES = args.archives
    unknown = [name for name in args.steps if name not in FIGURES]
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; the steps: {', '.join(FIGURES)}")
    chosen = args.steps or list(FIGURES)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"fdk at {FDK}{'; QUICK: tiny counts, figures not meaningful' if args.quick else ''}", flush=True)
    started = time.time()
    for name in chosen:
        step, quick = FIGURES[name]
        began = time.time()
        step(**(quick if args.quick else {}))
        print(f"  ({name}: {time.time() - began:.1f} s)", flush=True)
    print()
    print("| figure | ours | baseline (same run) | ratio | goal | verdict |")
    print("|---|---|---|---|---|---|")
    for r in ROWS:  # quick mode's counts are too small to judge a goal by: no verdict
        verdict = "not judged (quick)" if args.quick else "PASS" if r.ok else "MISS"
        print(f"| {r.figure} | {r.ours} | {r.baseline} | {r.ratio} | {r.goal} | {verdict} |")
    missed = "no verdicts in quick mode" if args.quick else f"{sum(not r.ok for r in ROWS)} missed"
    print(f"\n{len(ROWS)} figures in {time.time() - started:.0f} s; {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
