"""`make bench-compare`: a worker's CPU per request, this tree's code against another revision's.

One `make bench` run differs from the next by 10-20%, too much to see a change of 3-8%. So
two daphne workers run at once on one PostgreSQL database, one with the working tree's code
and one with REV's (checked out in a temporary git worktree, removed afterwards), and are
measured in alternate rounds in the same minutes: load from elsewhere on the machine falls on
both alike. Which worker goes first swaps each round, since going first moves a round's
figures by a few percent. A round is bench.py's (`measure_worker`, after its warm-up).

    make bench-compare AGAINST=HEAD~1 BENCH_ARGS="--rounds 20"
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/perf .venv/bin/python \\
        scripts/bench_compare.py --against main

Both workers share the database, so REV must have the working tree's migrations.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench  # noqa: E402  (the worker, its warm-up and a round's figures)

FIGURES = (("turn_ms", "streamed turn"), ("items.list_ms", "items.list"),
           ("threads.list_ms", "threads.list"))


# --- the two trees ---------------------------------------------------------------------------


def git(tree: Path, *args: str) -> str:
    """A git command's output; its own message, not a traceback, when it fails."""
    done = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def working_tree_revision() -> str:
    """HEAD, and whether the code measured is more than HEAD."""
    head = git(ROOT, "rev-parse", "--short", "HEAD")
    return f"{head} + uncommitted changes" if git(ROOT, "status", "--porcelain") else head


def resolve(rev: str) -> str:
    """REV as a short commit id; a clear message when git knows no such commit."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "--verify", "--quiet",
         f"{rev}^{{commit}}"], capture_output=True, text=True,
    )
    if done.returncode:
        raise SystemExit(f"--against {rev}: git knows no such revision")
    return done.stdout.strip()


@contextmanager
def other_tree(rev: str) -> Iterator[Path]:
    """REV checked out in a temporary worktree, removed on the way out however it is left
    (an error, Ctrl-C or SIGTERM), so that no worktree outlives the run."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-compare-tree-"))
    tree = scratch / "tree"
    try:
        git(ROOT, "worktree", "add", "--detach", str(tree), rev)
        yield tree
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                       capture_output=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


def migration_files(tree: Path) -> set[str]:
    """Every file in an app's migrations directory: tracked, or new and not ignored (a
    migration not committed yet counts too), and present on disk."""
    listed = git(tree, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    return {name for name in listed
            if "migrations" in Path(name).parts[:-1] and (tree / name).is_file()}


def check_migrations(rev: str, tree: Path) -> None:
    """Refuse when the trees' migrations differ: both workers use one database, migrated
    with the working tree's code, and REV's code would be run against a schema not its own."""
    ours, theirs = migration_files(ROOT), migration_files(tree)
    if ours != theirs:
        lines = [f"  only in this tree: {name}" for name in sorted(ours - theirs)]
        lines += [f"  only in {rev}: {name}" for name in sorted(theirs - ours)]
        raise SystemExit(f"The migrations of this tree and {rev} differ, and both workers "
                         "would share one database:\n" + "\n".join(lines))


# --- the workers ------------------------------------------------------------------------------


@dataclass
class Side:
    """One worker under comparison, and the figures of each of its rounds."""

    label: str
    pid: int
    client: bench.Client
    thread_ids: list[str]
    rounds: list[dict[str, float]] = field(default_factory=list)


def start_side(stack: ExitStack, label: str, env: dict[str, str], root: Path, token: str,
               threads: int, log: Path) -> Side:
    """A worker running `root`'s code, with its own threads, warmed up as bench.py's is."""
    process, port = stack.enter_context(bench.worker(env, log, root))
    client = bench.Client(port, token)
    thread_ids = [bench.new_thread(client, f"hi {n}") for n in range(threads)]
    bench.warm_up(client, thread_ids)
    return Side(label, process.pid, client, thread_ids)


def compare(database_url: str, tree: Path, args: argparse.Namespace, labels: list[str],
            logs: Path) -> list[Side]:
    """Both workers' rounds, taken in turns, the first of each pair swapping each round."""
    roots = [ROOT, tree]
    # The same local settings for both: REV's tree has no .env of its own.
    envs = [{**bench.worker_environment(database_url, args.pool, root),
             "ENV_FILE": str(ROOT / ".env")} for root in roots]
    tokens = bench.tokens_for(envs[0], ["bench_a", "bench_b"])  # migrates, with this tree
    with ExitStack() as stack:
        sides = [start_side(stack, label, env, root, token, args.threads, logs / f"{name}.log")
                 for label, env, root, token, name
                 in zip(labels, envs, roots, tokens, ["this", "against"], strict=True)]
        for n in range(args.rounds):
            order = sides if n % 2 == 0 else sides[::-1]
            for side in order:
                side.rounds.append(bench.measure_worker(side.client, side.pid, side.thread_ids,
                                                        args.turns, args.reads))
            print_round(n, args.rounds, order[0], sides)
    return sides


# --- the report -------------------------------------------------------------------------------


def ratios(sides: list[Side], key: str) -> list[float]:
    """This tree's figure over REV's, round by round: rounds taken in the same minutes."""
    ours, theirs = sides
    return [mine[key] / other[key] for mine, other in zip(ours.rounds, theirs.rounds,
                                                          strict=True)]


def print_round(n: int, rounds: int, first: Side, sides: list[Side]) -> None:
    """A line per round, so that a long run shows its progress and its spread."""
    figures = ", ".join(f"{label} {ratios(sides, key)[-1]:.2f}" for key, label in FIGURES)
    print(f"  round {n + 1}/{rounds}, {first.label} first: {figures}", flush=True)


def report(sides: list[Side], args: argparse.Namespace) -> None:
    """Each figure's least and median on both sides, and the two ratios."""
    ours, theirs = sides
    print(f"\nCPU ms per request ({args.rounds} rounds of {args.turns} turns and {args.reads} "
          f"reads a side; each thread first takes {bench.WARM_TURNS} turns)")
    print(f"                  {ours.label:^17}  {theirs.label:^17}   {ours.label} / {theirs.label}")
    print("                   least  median    least  median   median of rounds  of leasts")
    for key, label in FIGURES:
        mine = [figures[key] for figures in ours.rounds]
        other = [figures[key] for figures in theirs.rounds]
        print(f"  {label:<14} {min(mine):>8.2f} {statistics.median(mine):>7.2f}  "
              f"{min(other):>7.2f} {statistics.median(other):>7.2f}   "
              f"{statistics.median(ratios(sides, key)):>16.3f}  {min(mine) / min(other):>9.3f}")
    events = [statistics.median(figures["events_per_turn"] for figures in side.rounds)
              for side in sides]
    print(f"  SSE events per turn: {events[0]:.0f} ({ours.label}), {events[1]:.0f} "
          f"({theirs.label})")
    print(f"Reading: a ratio below 1.00 means the working tree takes less CPU than "
          f"{theirs.label}.")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the git revision to compare with")
    parser.add_argument("--turns", type=int, default=100, help="streamed turns a round")
    parser.add_argument("--reads", type=int, default=200, help="reads of each kind a round")
    parser.add_argument("--threads", type=int, default=10, help="threads the turns go to")
    parser.add_argument("--rounds", type=int, default=10, help="rounds on each side")
    parser.add_argument("--pool", type=int, default=10, help="CHAT_DB_POOL_SIZE")
    return parser.parse_args()


def stop(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C does, so that the worktree and workers go too."""
    raise SystemExit(128 + signum)


def main() -> None:
    args = parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        raise SystemExit("bench_compare.py needs DATABASE_URL naming a PostgreSQL database, "
                         "which both workers share; e.g. DATABASE_URL=postgres://postgres@"
                         "127.0.0.1:5432/perf_cmp")
    signal.signal(signal.SIGTERM, stop)
    this, against = working_tree_revision(), resolve(args.against)
    rev_label = args.against if len(args.against) <= 17 else against
    print(f"hardware: {bench.hardware()}")
    print(f"this tree: {this}")
    print(f"against:   {args.against} = {against}")
    print(f"database: {database_url.split('@')[-1]}", flush=True)
    with other_tree(against) as tree:
        check_migrations(args.against, tree)
        logs = Path(tempfile.mkdtemp(prefix="bench-compare-"))
        print(f"worker logs in {logs}", flush=True)
        sides = compare(database_url, tree, args, ["this tree", rev_label], logs)
    report(sides, args)


if __name__ == "__main__":
    main()
