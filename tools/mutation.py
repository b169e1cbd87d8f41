"""Mutation testing of pure modules with mutmut, over the fast unit tests only.

    python tools/mutation.py [--workdir DIR] [--jobs N] [MODULE.py ...]

Without modules it runs over the pure codecs and the hardcoded example's
allocation and config code (DEFAULT_MODULES). mutmut copies the code it mutates
into `mutants/`; to keep the work tree clean, and because mutmut names a
module after its path (so a package under a source root such as `operator/`
or `examples/plugins/hardcoded/` must sit at the top of the tree or under
`src/`), everything runs in a scratch copy (default `build/mutation`, removed
first): the files git knows (committed or not, ignored ones left out), with
packages of other source roots moved under `src/`.

Each mutant runs only the unit tests that reach the mutated function
(`pytest -m unit tests/unit tests/reconcile`). At the end a table gives, per module, how many
mutants were killed, survived, had no test reaching them or timed out; the
score is killed / (all - listed equivalents). Surviving mutants listed in
tools/mutation-equivalents.txt (a mutant name and the reason it cannot change
behaviour) are counted apart; any other survivor is printed, and the exit
status is 1 when there is one.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "tools" / "mutation-equivalents.txt"

DEFAULT_MODULES = (
    "plugin_host/gob.py",
    "plugin_host/wire.py",
    "plugin_host/handshake.py",
    "plugin_host/logs.py",
    "examples/plugins/hardcoded/hardcoded/config.py",
)

# Source roots other than the repository's top, and the packages under them.
SOURCE_ROOTS = {
    "operator": "turnout_operator",
    "router": "turnout_router",
    "kubectl": "turnout_kubectl",
    "examples/plugins/hardcoded": "hardcoded",
}

PYTEST_ARGS = ["-m", "unit", "-p", "no:cacheprovider", "-q"]
# Not about any module's behaviour: it checks where packages are imported from,
# which the scratch copy changes on purpose.
IGNORED_TESTS = ["tests/unit/test_packaging.py"]

_RESULT = re.compile(r"^\s*(?P<name>\S+__mutmut_\d+): (?P<status>.+?)\s*$")


def relocate(module: str) -> tuple[str, str]:
    """(path in the scratch copy, top package directory to mutate) for a module path."""
    for root, package in SOURCE_ROOTS.items():
        prefix = f"{root}/{package}/"
        if module.startswith(prefix):
            return f"src/{package}/{module[len(prefix) :]}", "src"
    top = module.split("/", 1)[0]
    if "/" not in module or top in ("src", "tests"):
        raise SystemExit(f"{module}: not a module of a package of this repository")
    return module, top


def scratch_copy(workdir: Path) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        relative = raw.decode()
        source = ROOT / relative
        if not source.is_file():  # deleted but not yet committed
            continue
        target = workdir / relative
        for root, package in SOURCE_ROOTS.items():
            prefix = f"{root}/{package}/"
            if relative.startswith(prefix):
                target = workdir / "src" / package / relative[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def configure(workdir: Path, modules: list[str], source_paths: list[str]) -> None:
    pyproject = workdir / "pyproject.toml"
    text = pyproject.read_text()
    if "tool" in tomllib.loads(text) and "mutmut" in tomllib.loads(text)["tool"]:
        raise SystemExit("pyproject.toml already has a [tool.mutmut] table; this script owns it")
    # What the tests import besides the mutated packages (mutmut adds tests/ itself).
    # Everything at the top of the scratch copy: some unit tests read the chart, the CRDs,
    # the docs or the tool modules' pins.
    also_copy = sorted(
        entry.name
        for entry in workdir.iterdir()
        if entry.name not in (*source_paths, "tests", "mutants", "pyproject.toml")
    )
    pyproject.write_text(
        text
        + "\n[tool.mutmut]\n"
        + f"source_paths = {toml_list(source_paths)}\n"
        + f"only_mutate = {toml_list(modules)}\n"
        + 'pytest_add_cli_args_test_selection = ["tests/unit", "tests/reconcile"]\n'
        + f"pytest_add_cli_args = {toml_list(PYTEST_ARGS + [f'--ignore={t}' for t in IGNORED_TESTS])}\n"
        + f"also_copy = {toml_list(also_copy)}\n"
    )


def load_equivalents() -> dict[str, str]:
    equivalents: dict[str, str] = {}
    for line in EQUIVALENTS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{EQUIVALENTS}: {name} has no reason")
        equivalents[name] = reason.strip()
    return equivalents


def module_of(mutant: str) -> str:
    parts = mutant.split(".")
    for index, part in enumerate(parts):
        if part.startswith(("x_", "xǁ")):
            return ".".join(parts[:index])
    return mutant.rsplit(".", 1)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="module files (default: the pure modules)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "mutation")
    parser.add_argument("--jobs", type=int, default=0, help="parallel mutants (default: CPUs)")
    args = parser.parse_args()
    modules = args.modules or list(DEFAULT_MODULES)
    for module in modules:
        if not (ROOT / module).is_file():
            raise SystemExit(f"{module}: no such file")
    placed = [relocate(module) for module in modules]
    workdir: Path = args.workdir.resolve()
    scratch_copy(workdir)
    configure(workdir, [path for path, _ in placed], sorted({top for _, top in placed}))

    mutmut = str(Path(sys.executable).parent / "mutmut")
    run = [mutmut, "run"] + ([f"--max-children={args.jobs}"] if args.jobs else [])
    print(f"mutation: running mutmut over {', '.join(modules)} in {workdir}", flush=True)
    subprocess.run(run, cwd=workdir, check=True)
    results = subprocess.run(
        [mutmut, "results", "--all", "true"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    equivalents = load_equivalents()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    unexplained: list[str] = []
    for line in results.splitlines():
        match = _RESULT.match(line)
        if not match:
            continue
        name, status = match.group("name"), match.group("status")
        if status == "survived" and name in equivalents:
            status = "equivalent"
        elif status != "killed":
            unexplained.append(f"{name}: {status}")
        counts[module_of(name)][status] += 1
    for module in (path for path, _ in placed):
        name = module.removeprefix("src/").removesuffix(".py").replace("/", ".")
        counts.setdefault(name, Counter())

    summary = {}
    print(
        f"\n{'module':<34} {'mutants':>7} {'killed':>6} {'equiv':>5} {'surv':>4} {'no test':>7} {'other':>5} {'score':>6}"
    )
    for module, count in sorted(counts.items()):
        total = sum(count.values())
        other = total - sum(count[k] for k in ("killed", "equivalent", "survived", "no tests"))
        scored = total - count["equivalent"]
        score = count["killed"] / scored if scored else 1.0
        summary[module] = {**count, "total": total, "score": round(score, 4)}
        print(
            f"{module:<34} {total:>7} {count['killed']:>6} {count['equivalent']:>5} "
            f"{count['survived']:>4} {count['no tests']:>7} {other:>5} {score:>6.1%}"
        )
    (workdir / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    if unexplained:
        print(f"\n{len(unexplained)} mutants neither killed nor listed as equivalent:")
        print("\n".join(unexplained))
        print(f"(`mutmut show NAME` in {workdir} shows one)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
