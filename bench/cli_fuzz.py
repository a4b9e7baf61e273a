"""CLI fuzz benchmark: run the catalogue of bad inputs (:mod:`cli_fuzz_cases`) through the
``splat3d`` command and count how each run ended (issue #20, items 9 and 10 and "Proofs").

Each case runs in its own folder as ``python -m splat3d.cli ...`` (this checkout first on
``PYTHONPATH``, one torch thread, a timeout) and is classified:

==================== ====== ===========================================================
category             passes meaning
==================== ====== ===========================================================
clean error          yes    expected an error: exit != 0, one stderr line
                            ``splat3d: error: ...`` naming the file or flag (progress bars
                            and one-line ``splat3d: warning:`` lines aside)
ok                   yes    expected success: exit 0 and the case's check holds
traceback            no     ``Traceback`` on stderr, an error that is not one line, or
                            ``splat3d: internal error:`` (an unanticipated exception)
silent wrong output  no     exit 0 where an error was expected, or a failed check
hard crash           no     killed by a signal (SIGFPE, SIGSEGV, SIGKILL...) or a timeout
vague error          no     a clean one-line error that names neither the file nor the flag
refused valid input  no     a clean error where success was expected
code executed        no     a planted malicious pickle ran (its marker file appeared)
setup failed         --     the case's inputs could not be built (a fixture is missing)
==================== ====== ===========================================================

A server command (``view``) that reaches its timeout has started serving the bad input: that
counts as silent wrong output (or ok, for a case where serving is acceptable). tyro's own
usage errors (a boxed message, exit 2) count as a clean error: the flag is named and no
traceback is printed.

Usage::

    python bench/cli_fuzz.py --jobs 2 --json fuzz.json          # everything (~10 min, 2 cores)
    python bench/cli_fuzz.py --filter render/ --keep --workdir /tmp/fz

It is a benchmark, not a test: it prints a table and exits 0 whatever the counts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PASSING = ("clean error", "ok")
FAILING = ("traceback", "silent wrong output", "hard crash", "vague error",
           "refused valid input", "code executed")
CATEGORIES = (*PASSING, *FAILING, "setup failed")


@dataclass(frozen=True)
class Outcome:
    """How one case ended."""

    name: str
    category: str
    reason: str
    returncode: int | None
    seconds: float
    stderr_tail: str
    why: str = ""


def classify(
    expect: str, returncode: int | None, stderr: str, timed_out: bool = False,
    mentions: tuple[str, ...] = (), check_failure: str | None = None,
    marker_found: bool = False, serves: bool = False,
) -> tuple[str, str]:
    """``(category, reason)`` of one finished run (see the module docstring).

    Args:
        expect: ``error``, ``ok`` or ``either``.
        returncode: the exit status (negative: killed by that signal); ``None`` on timeout.
        stderr: everything the command wrote to stderr.
        timed_out: the command ran past its timeout and was killed.
        mentions: one of these must appear in a clean error line (empty: no requirement).
        check_failure: why the case's check of a successful run failed (``None``: it held).
        marker_found: the planted pickle's marker file exists.
        serves: a server command, for which a timeout means it started serving (fine when
            ``expect`` is ``either``).
    """
    if marker_found:
        return "code executed", "the malicious pickle ran (marker file created)"
    if timed_out:
        if serves and expect == "either":
            return "ok", "served (the input may be ignored)"
        if serves:
            return "silent wrong output", "started serving instead of refusing the input"
        return "hard crash", "timeout"
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return "hard crash", f"killed by {name}"
    if "Traceback (most recent call last)" in stderr:
        last = [ln for ln in stderr.strip().splitlines() if ln.strip()][-1:]
        return "traceback", last[0].strip()[:200] if last else "traceback"
    if returncode != 0:
        lines = [ln for ln in stderr.splitlines() if ln.strip() and not _is_noise(ln)]
        usage = bool(lines) and lines[0].startswith("╭") and returncode == 2
        if len(lines) == 1 and lines[0].startswith("splat3d: internal error: "):
            return "traceback", lines[0].removeprefix("splat3d: ")[:200]  # saved to a file
        if not usage and (len(lines) != 1 or not lines[0].startswith("splat3d: error: ")):
            return "traceback", f"{len(lines)} stderr lines, not one 'splat3d: error:' line"
        message = stderr if usage else lines[0]
        if expect == "ok":
            return "refused valid input", message.strip()[:200]
        if mentions and not any(m in message for m in mentions):
            return "vague error", f"names none of {list(mentions)}: {message.strip()[:160]}"
        return "clean error", message.strip()[:200]
    if expect == "error":
        return "silent wrong output", "exit 0 where an error was expected"
    if check_failure:
        return "silent wrong output", check_failure
    return "ok", ""


def _is_noise(line: str) -> bool:
    """A progress-bar line or a one-line ``splat3d: warning:``: not part of the error."""
    return line.startswith("splat3d: warning: ") or "━" in line or " it/s " in line


def subprocess_env(extra: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """This checkout first on ``PYTHONPATH``, one thread, no traceback override."""
    env = dict(os.environ)
    env.pop("SPLAT3D_TRACEBACK", None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
                "COLUMNS": "200"})
    env.update(dict(extra))
    return env


def run_cli(argv: list[str], cwd: Path, timeout: float = 300.0,
            env: dict[str, str] | None = None) -> tuple[int | None, str, str, bool]:
    """``(returncode, stdout, stderr, timed_out)`` of ``python -m splat3d.cli ARGV``; the
    whole process group is killed on timeout (a viewer starts threads and children)."""
    proc = subprocess.Popen([sys.executable, "-m", "splat3d.cli", *argv], cwd=cwd,
                            env=env or subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace",
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err, False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err, True


def run_case(case, workdir: Path) -> Outcome:
    """Set up, run and classify one case in ``workdir/<case name>``."""
    import cli_fuzz_cases

    folder = workdir / case.name.replace("/", "__")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    start = time.monotonic()
    try:
        if case.setup is not None:
            case.setup(folder)
        argv = case.argv(folder)
    except Exception as err:  # a broken fixture: report it, do not stop the benchmark
        return Outcome(case.name, "setup failed", f"{type(err).__name__}: {err}"[:200], None,
                       0.0, "", case.why)
    before = cli_fuzz_cases.files_under(folder)
    code, out, err, timed_out = run_cli(argv, folder, case.timeout, subprocess_env(case.env))
    check_failure = None
    if code == 0 and case.check is not None:
        try:
            check_failure = case.check(folder, out, before)
        except Exception as exc:
            check_failure = f"check raised {type(exc).__name__}: {exc}"[:200]
    mentions = tuple(m.replace("{dir}", str(folder)) for m in case.mentions)
    category, reason = classify(case.expect, code, err, timed_out, mentions, check_failure,
                                (folder / cli_fuzz_cases.MARKER).exists(), case.serves)
    return Outcome(case.name, category, reason, code, time.monotonic() - start,
                   "\n".join(err.strip().splitlines()[-3:])[-400:], case.why)


def format_table(outcomes: list[Outcome]) -> str:
    """Counts per category (all commands, then per command) and the failing cases."""
    commands = sorted({o.name.split("/")[0] for o in outcomes})
    total = Counter(o.category for o in outcomes)
    per = {c: Counter(o.category for o in outcomes if o.name.split("/")[0] == c)
           for c in commands}
    shown = [c for c in CATEGORIES if total[c]]
    width = max(len(c) for c in ["command", *commands])
    head = f"{'command':<{width}}  {'cases':>5}  " + "  ".join(f"{c:>{len(c)}}" for c in shown)
    rows = [head, "-" * len(head)]
    for name, counts in [*per.items(), ("ALL", total)]:
        if name == "ALL":
            rows.append("-" * len(head))
        rows.append(f"{name:<{width}}  {sum(counts.values()):>5}  "
                    + "  ".join(f"{counts[c]:>{len(c)}}" for c in shown))
    failing = [o for o in outcomes if o.category in FAILING or o.category == "setup failed"]
    rows.append("")
    rows.append(f"{len(outcomes)} cases: {total['clean error'] + total['ok']} pass "
                f"({total['clean error']} clean errors, {total['ok']} ok), "
                f"{sum(total[c] for c in FAILING)} fail: "
                + ", ".join(f"{total[c]} {c}" for c in FAILING))
    if failing:
        rows += ["", "failing cases:"]
        for o in sorted(failing, key=lambda o: (CATEGORIES.index(o.category), o.name)):
            rows.append(f"  [{o.category}] {o.name}: {o.reason}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once")
    parser.add_argument("--json", type=Path, help="write every outcome to this JSON file")
    parser.add_argument("--filter", default="", help="only cases whose name contains this")
    parser.add_argument("--workdir", type=Path, help="case folders here (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the case folders")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: expected at least 1")

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(REPO))
    import cli_fuzz_cases

    cli_fuzz_cases._ENV.update(subprocess_env())
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="splat3d_cli_fuzz_"))
    start = time.monotonic()
    fixtures = cli_fuzz_cases.build_fixtures(
        workdir / "_fixtures", lambda a, cwd: run_cli(a, cwd, timeout=600))
    cases = [c for c in cli_fuzz_cases.build_cases(fixtures) if args.filter in c.name]
    if args.list:
        for case in cases:
            print(f"{case.name:55s} {case.expect:6s} {case.why}")
        return 0
    print(f"{len(cases)} cases, {args.jobs} at a time, in {workdir}", flush=True)
    done: list[Outcome] = []

    def one(case) -> Outcome:
        outcome = run_case(case, workdir)
        done.append(outcome)
        print(f"[{len(done):3d}/{len(cases)}] {outcome.category:19s} {case.name} "
              f"({outcome.seconds:.0f} s) {outcome.reason[:150]}", flush=True)
        return outcome

    with ThreadPoolExecutor(args.jobs) as pool:
        outcomes = list(pool.map(one, cases))
    print()
    print(format_table(outcomes))
    print(f"\n{time.monotonic() - start:.0f} s with --jobs {args.jobs}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "counts": dict(Counter(o.category for o in outcomes)),
            "outcomes": [asdict(o) for o in outcomes]}, indent=1) + "\n")
        print(f"wrote {args.json}")
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
