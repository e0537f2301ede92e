"""`make mutate`: mutation testing of the security core with cosmic-ray.

For every module in ``mutation/modules.toml`` cosmic-ray makes each mutant in
turn (one small change to the source) and runs that module's FAST tests
against it; a mutant the tests do not notice has survived. The reviewed
equivalent mutants (``mutation/equivalents.toml``) are left out of the score.

Modules are shared out among ``--jobs`` workers; each worker mutates its own
copy of the tree (under ``.mutation/``), so two modules never see each other's
mutants. Prints one table (killed, timeouts, survived, score per module) and
every survivor with its diff; exits 1 if a module scores under ``--threshold``
or an equivalents entry matches nothing (stale).

    python -m mutation [--jobs N] [--sample N] [--threshold 90] [MODULE ...]

MODULE may be a path or a module's file name without ``.py`` (``jws``).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "mutation"
WORK = ROOT / ".mutation"
COSMIC_RAY = str(Path(sys.executable).with_name("cosmic-ray"))
# What the fast tests import: the code under test and the test helpers.
# deploy: the route generator's integration list and the specifications it checks (tests/unit/test_routes.py)
COPIED = ("token_exchange", "oic_gateway", "tests", "local", "authorizer", "ops", "deploy", "pyproject.toml")
IGNORED = shutil.ignore_patterns("__pycache__", "node_modules", ".hypothesis", "*.pyc")
TIMED_OUT = "[mutation: the test run timed out]"  # printed by forkserver.run
SAMPLE_SEED = 13
KEY_POOL = WORK / "rsa-pool.pem"  # RSA keys for the tests, made once (see forkserver.py)
KEY_POOL_SIZES = {2048: 24, 2056: 2, 1024: 4}  # a fixed seed: a sampled run is reproducible


@dataclass(frozen=True)
class Equivalent:
    module: str
    definition: str
    operator: str
    before: str
    after: str
    why: str

    def key(self) -> tuple[str, str, str, str, str]:
        return (self.module, self.definition, self.operator, self.before, self.after)


@dataclass
class Mutant:
    module: str
    definition: str
    operator: str
    line: int
    diff: str
    outcome: str  # killed, timeout, survived, incompetent, pending
    before: str = ""
    after: str = ""

    def key(self) -> tuple[str, str, str, str, str]:
        return (self.module, self.definition, self.operator, self.before, self.after)


@dataclass
class ModuleResult:
    module: str
    tests: list[str]
    seconds: float = 0.0
    mutants: list[Mutant] = field(default_factory=list)
    sampled_from: int | None = None
    annotations: int = 0  # mutants of never-evaluated annotations, not run
    error: str | None = None


def load_modules() -> dict[str, list[str]]:
    with (HERE / "modules.toml").open("rb") as f:
        table = tomllib.load(f)["modules"]
    return {str(module): [str(t) for t in tests] for module, tests in table.items()}


def load_equivalents() -> list[Equivalent]:
    with (HERE / "equivalents.toml").open("rb") as f:
        entries = tomllib.load(f).get("equivalent", [])
    return [Equivalent(e["module"], e["definition"], e["operator"], e["before"], e["after"], e["why"])
            for e in entries]


def pytest_args(tests: Sequence[str]) -> list[str]:
    # -x: the first failing test kills the mutant. No conftest, no plugins: the
    # fast tests are pure, and pytest starts in a fraction of the time.
    return ["-x", "-q", "-p", "no:cacheprovider", "--noconftest", "-W", "ignore::pytest.PytestConfigWarning",
            *tests]


def test_command(socket_path: str, timeout: float, tests: Sequence[str]) -> list[str]:
    """A run of ``tests`` in a fork of the worker's warm server (see forkserver.py)."""
    return [sys.executable, "-S", str(HERE / "forkserver.py"), "run", socket_path, f"{timeout:.0f}",
            *pytest_args(tests)]


@contextmanager
def fork_server(worker_dir: Path) -> Iterator[str]:
    sockets = tempfile.mkdtemp(prefix="mutate-")
    path = os.path.join(sockets, "fork.sock")
    server = subprocess.Popen([sys.executable, str(HERE / "forkserver.py"), "serve", path, str(KEY_POOL)],
                              cwd=worker_dir, env=test_env())
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(path):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fork server did not start")
            time.sleep(0.05)
        yield path
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(sockets, ignore_errors=True)


def test_env() -> dict[str, str]:
    return {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def fresh_copy(worker: int, tag: str = "") -> Path:
    target = WORK / f"worker{tag}-{worker}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_symlink():  # oic_gateway -> token_exchange/oic_gateway: one copy, mutated in place
            (target / name).symlink_to(source.readlink())
        elif source.is_dir():
            shutil.copytree(source, target / name, ignore=IGNORED)
        else:
            shutil.copy2(source, target / name)
    return target


def changed_lines(diff: str) -> tuple[str, str]:
    """The removed and the added source lines of a unified diff, stripped."""
    body = [line for line in diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
    before = " / ".join(line[1:].strip() for line in body if line.startswith("-"))
    after = " / ".join(line[1:].strip() for line in body if line.startswith("+"))
    return before, after


def run_module(module: str, tests: list[str], worker_dir: Path, sample: int | None) -> ModuleResult:
    result = ModuleResult(module, tests)
    started = time.monotonic()
    name = Path(module).stem
    config = worker_dir / f"{name}.cosmic-ray.toml"
    session = worker_dir / f"{name}.sqlite"
    missing = [t for t in tests if not (worker_dir / t).exists()]
    if missing or not (worker_dir / module).exists():
        result.error = f"missing: {', '.join(missing or [module])}"
        return result
    with fork_server(worker_dir) as socket_path:
        return _run_module(result, module, tests, worker_dir, socket_path, config, session, sample, started)


def _run_module(result: ModuleResult, module: str, tests: list[str], worker_dir: Path, socket_path: str,
                config: Path, session: Path, sample: int | None, started: float) -> ModuleResult:
    # Baseline: the tests must pass on the unmutated code; its time sets the timeout.
    t0 = time.monotonic()
    base = subprocess.run(test_command(socket_path, 300, tests), cwd=worker_dir, capture_output=True,
                          text=True, check=False)
    baseline = time.monotonic() - t0
    if base.returncode != 0:
        result.error = "baseline failed (the fast tests fail on unmutated code):\n" + base.stdout[-3000:]
        return result
    timeout = max(10.0, 5 * baseline)
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        f"timeout = {timeout + 5:.1f}\n"  # the fork server's own alarm fires first
        "excluded-modules = []\n"
        f"test-command = {json.dumps(shlex.join(test_command(socket_path, timeout, tests)))}\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )
    subprocess.run([COSMIC_RAY, "init", str(config), str(session)], cwd=worker_dir, check=True,
                   capture_output=True)
    result.annotations = _drop_annotation_mutants(session, worker_dir / module)
    if sample is not None:
        result.sampled_from = _sample(session, sample)
    done = subprocess.run([COSMIC_RAY, "exec", str(config), str(session)], cwd=worker_dir, env=test_env(),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        result.error = "cosmic-ray exec failed:\n" + done.stderr[-3000:]
    dump = subprocess.run([COSMIC_RAY, "dump", str(session)], cwd=worker_dir, capture_output=True, text=True,
                          check=True)
    result.mutants = [_mutant(json.loads(line)) for line in dump.stdout.splitlines() if line.strip()]
    result.seconds = time.monotonic() - started
    session.with_suffix(".result.json").write_text(json.dumps(
        {"seconds": result.seconds, "annotations": result.annotations, "sampled_from": result.sampled_from}))
    return result


def saved_result(module: str, tests: list[str], tag: str) -> ModuleResult:
    """A module's result from an earlier run with this tag (``--report-only``)."""
    result = ModuleResult(module, tests)
    stem = Path(module).stem
    sessions = sorted(WORK.glob(f"worker{tag}-*/{stem}.sqlite"))
    if not sessions:
        result.error = "no saved session for this tag"
        return result
    meta = json.loads(sessions[0].with_suffix(".result.json").read_text())
    result.seconds, result.annotations, result.sampled_from = meta["seconds"], meta["annotations"], meta["sampled_from"]
    dump = subprocess.run([COSMIC_RAY, "dump", str(sessions[0])], capture_output=True, text=True, check=True)
    result.mutants = [_mutant(json.loads(line)) for line in dump.stdout.splitlines() if line.strip()]
    return result


def _annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the annotations are, if the module never evaluates them
    (``from __future__ import annotations``: they stay strings)."""
    tree = ast.parse(source)
    lazy = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and
               any(a.name == "annotations" for a in n.names) for n in tree.body)
    if not lazy:
        return []
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
    return [((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or 0)) for a in found]


def _drop_annotation_mutants(session: Path, module: Path) -> int:
    """Remove the mutants that change only an annotation: the module never
    evaluates them, so no behaviour can tell such a mutant apart (counted
    apart in the table as 'annotations', never run)."""
    import sqlite3

    spans = _annotation_spans(module.read_text())
    with sqlite3.connect(session) as db:
        rows = db.execute("SELECT job_id, start_pos_row, start_pos_col FROM mutation_specs").fetchall()
        inside = [job for job, row, col in rows if any(a <= (row, col) < b for a, b in spans)]
        db.executemany("DELETE FROM mutation_specs WHERE job_id = ?", [(j,) for j in inside])
        db.executemany("DELETE FROM work_items WHERE job_id = ?", [(j,) for j in inside])
    return len(inside)


def _sample(session: Path, size: int) -> int | None:
    """Keep a reproducible random ``size`` of the session's mutants."""
    import sqlite3

    with sqlite3.connect(session) as db:
        # Job ids are random: order by what the mutant is, so the seed picks the same mutants each run.
        ids = [row[0] for row in db.execute(
            "SELECT job_id FROM mutation_specs ORDER BY operator_name, occurrence, start_pos_row, start_pos_col")]
        if len(ids) <= size:
            return None
        dropped = set(ids) - set(random.Random(SAMPLE_SEED).sample(ids, size))
        db.executemany("DELETE FROM mutation_specs WHERE job_id = ?", [(j,) for j in dropped])
        db.executemany("DELETE FROM work_items WHERE job_id = ?", [(j,) for j in dropped])
    return len(ids)


def _mutant(row: list[Any]) -> Mutant:
    item, outcome = row
    spec = item["mutations"][0]
    if outcome is None:
        kind, diff = "pending", ""
    else:
        diff = outcome.get("diff") or ""
        test = outcome.get("test_outcome")
        if outcome.get("worker_outcome") == "no-test":
            kind = "incompetent"
        elif test == "killed":
            output = outcome.get("output") or ""
            kind = "timeout" if output == "timeout" or TIMED_OUT in output else "killed"
        else:
            kind = test or "incompetent"
    before, after = changed_lines(diff)
    return Mutant(spec["module_path"], spec.get("definition_name") or "<module>", spec["operator_name"],
                  spec["start_pos"][0], diff, kind, before, after)


def score(result: ModuleResult, equivalent: set[tuple[str, str, str, str, str]]) -> dict[str, Any]:
    counted = [m for m in result.mutants if m.key() not in equivalent]
    tally = {k: sum(1 for m in counted if m.outcome == k)
             for k in ("killed", "timeout", "survived", "incompetent", "pending")}
    meaningful = tally["killed"] + tally["timeout"] + tally["survived"]
    detected = tally["killed"] + tally["timeout"]
    return {**tally, "mutants": len(result.mutants), "equivalent": len(result.mutants) - len(counted),
            "score": 100.0 * detected / meaningful if meaningful else 100.0}


def report(results: Iterable[ModuleResult], equivalents: list[Equivalent], threshold: float,
           elapsed: float, jobs: int, cpu: float) -> tuple[str, bool]:
    results = list(results)
    keys = {e.key() for e in equivalents}
    ok = True
    lines: list[str] = []
    survivors: list[str] = []
    header = ("| module | tests | mutants | annotations | equivalent | killed | timeouts | survived | incompetent "
              "| score | time |")
    lines += [header, "|" + "---|" * 11]
    for r in results:
        if r.error:
            ok = False
            lines.append(f"| `{r.module}` | {', '.join(r.tests)} | | | | | | | | ERROR | |")
            survivors.append(f"### {r.module}: {r.error}")
            continue
        s = score(r, keys)
        sampled = f" (sample of {r.sampled_from})" if r.sampled_from else ""
        flag = "" if s["score"] >= threshold else " **below**"
        ok = ok and s["score"] >= threshold and not s["pending"]
        tests = ", ".join(Path(t).name for t in r.tests)
        lines.append(f"| `{r.module}` | {tests} | {s['mutants']}{sampled} | {r.annotations} | {s['equivalent']} "
                     f"| {s['killed']} | {s['timeout']} | {s['survived']} | {s['incompetent']} "
                     f"| {s['score']:.1f}%{flag} | {r.seconds:.0f} s |")
        for m in sorted(r.mutants, key=lambda m: m.line):
            if m.outcome == "survived" and m.key() not in keys:
                survivors.append(f"### survived: {m.module}:{m.line} in {m.definition} ({m.operator})\n"
                                 f"```diff\n{m.diff.strip()}\n```")
    # A sampled module ran only some of its mutants: its entries cannot be judged stale.
    ran = {r.module for r in results if not r.error and not r.sampled_from}
    seen = {m.key() for r in results for m in r.mutants}
    stale = [e for e in equivalents if e.module in ran and e.key() not in seen]
    for e in stale:
        ok = False
        survivors.append(f"### stale equivalents entry (matches no mutant): {e.module} {e.definition} "
                         f"{e.operator}\n    before: {e.before}\n    after:  {e.after}")
    lines.append("")
    lines.append("Mutants: run (annotations: changes to never-evaluated annotations, dropped before running). "
                 "Score = (killed + timeouts) / (mutants - equivalent - incompetent). "
                 f"Threshold {threshold:.0f}%. " + (
                     f"Wall time {elapsed / 60:.1f} min with {jobs} worker(s); CPU time {cpu / 60:.1f} min "
                     f"(on {jobs} otherwise idle core(s) about {cpu / 60 / jobs:.1f} min)." if cpu >= 0 else
                     "Reprinted from the saved sessions (--report-only): the times are each module's own."))
    return "\n".join(lines) + "\n\n" + "\n\n".join(survivors) + "\n", ok


def _children_cpu() -> float:
    """CPU seconds of every finished child process (cosmic-ray, the fork
    servers and, through them, every test run): the honest measure of the
    work on a machine that others share."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="module paths or names (default: all in modules.toml)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--sample", type=int, default=None, help="at most N random mutants per module")
    parser.add_argument("--threshold", type=float, default=90.0)
    parser.add_argument("--tag", default="", help="name this run's worker trees and report (runs side by side)")
    parser.add_argument("--report-only", action="store_true",
                        help="print the report of the last run with this tag again (e.g. after reviewing equivalents)")
    args = parser.parse_args(argv)

    mapping = load_modules()
    chosen = dict(mapping)
    if args.modules:
        wanted = set(args.modules)
        chosen = {m: t for m, t in mapping.items() if m in wanted or Path(m).stem in wanted}
        unknown = wanted - set(chosen) - {Path(m).stem for m in chosen}
        if unknown:
            parser.error(f"not in mutation/modules.toml: {', '.join(sorted(unknown))}")
    equivalents = load_equivalents()

    if args.report_only:
        saved = [saved_result(m, chosen[m], args.tag) for m in chosen]
        text, ok = report(saved, equivalents, args.threshold, 0.0, 1, -1.0)
        print(text)
        return 0 if ok else 1
    started = time.monotonic()
    cpu_before = _children_cpu()
    WORK.mkdir(exist_ok=True)
    # Biggest modules first, each to the next free worker (each worker its own tree).
    order = sorted(chosen, key=lambda m: -(ROOT / m).stat().st_size if (ROOT / m).exists() else 0)
    jobs = max(1, min(args.jobs, len(order)))
    copies = [fresh_copy(i, args.tag) for i in range(jobs)]
    if not KEY_POOL.exists():
        from mutation.forkserver import make_key_pool

        make_key_pool(str(KEY_POOL), KEY_POOL_SIZES)
    free = list(copies)

    def one(module: str) -> ModuleResult:
        where = free.pop()
        try:
            print(f"mutating {module} ...", flush=True)
            r = run_module(module, chosen[module], where, args.sample)
            print(f"  {module}: {len(r.mutants)} mutants in {r.seconds:.0f} s", flush=True)
            return r
        finally:
            free.append(where)

    with ThreadPoolExecutor(jobs) as pool:
        results = {r.module: r for r in pool.map(one, order)}
    text, ok = report([results[m] for m in chosen], equivalents, args.threshold, time.monotonic() - started, jobs,
                      _children_cpu() - cpu_before)
    report_file = WORK / f"report{args.tag}.md"
    report_file.write_text(text)
    print()
    print(text)
    print(f"(also written to {report_file.relative_to(ROOT)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
