"""`kubectl turnout`: the command line.

Exit codes, for scripts:

* 0: done (for `diff --exit-code`: no differences);
* 1: failed: a rollback whose version failed or that timed out, an API server
  that cannot be reached, a kubeconfig that cannot be read (`diff --exit-code`:
  differences found);
* 2: usage: unknown command or flag, bad value;
* 3: not found or forbidden: no such Router, version or engine, a resource that is
  not installed, or a request the API server refused for your identity (its
  message is printed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, NoReturn, TextIO

import yaml

from turnout_kubectl import diffing, rollback, views
from turnout_kubectl.client import ApiError, Client, Target

OK: Final = 0
FAILED: Final = 1
USAGE: Final = 2
NOT_FOUND: Final = 3

EPILOG: Final = """\
examples:
  # a Router's versions, newest first; * marks the one serving
  kubectl turnout versions checkout -n team-a

  # what changed between versions 2 and 3, and between 2 and the current spec
  kubectl turnout diff checkout 2 3
  kubectl turnout diff checkout 2

  # back to the version deployed before the current one, or to version 2
  kubectl turnout rollback checkout
  kubectl turnout rollback checkout --to 2 --timeout 5m

  # the experiment engines, and one engine's experiments for one client
  kubectl turnout engines
  kubectl turnout experiments hardcoded --client 1

exit codes: 0 ok; 1 failed or timed out; 2 usage; 3 not found or forbidden.
"""


class Failure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"error: {message}\n")


def _duration(text: str) -> float:
    """300, 300s, 5m, 1h."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 5m)") from None


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a version number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"version numbers start at 1: {text!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    common.add_argument("--context", help="kubeconfig context (default: the current one)")
    common.add_argument(
        "-n", "--namespace", help="namespace (default: the context's, else default)"
    )

    parser = Parser(
        prog="kubectl turnout",
        description="Day two with Turnout: a Router's versions, diffs and rollbacks, and the "
        "experiment engines' catalogues, read from the cluster with your own permissions.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    def command(name: str, help: str, epilog: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=help,
            parents=[common],
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    def output(sub: argparse.ArgumentParser, wide: bool = False) -> None:
        choices = ["yaml", "json", *(["wide"] if wide else [])]
        sub.add_argument("-o", "--output", choices=choices, help="yaml or json instead of a table")

    versions = command(
        "versions",
        "List a Router's mirrored versions, newest first (* marks the one serving).",
        "example:\n  kubectl turnout versions checkout -n team-a\n  kubectl turnout versions checkout -o yaml",
    )
    versions.add_argument("router")
    output(versions, wide=True)

    diff = command(
        "diff",
        "Show a unified diff of two versions' specs and runner configs.",
        "B defaults to the Router's current spec.\n\nexample:\n"
        "  kubectl turnout diff checkout 2 3\n  kubectl turnout diff checkout 2\n\n"
        "exit codes: 0 (also with differences, unless --exit-code); 1 with --exit-code "
        "when they differ; 3 no such Router or version.",
    )
    diff.add_argument("router")
    diff.add_argument("a", type=_positive, metavar="A")
    diff.add_argument("b", type=_positive, metavar="B", nargs="?")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when they differ")
    diff.add_argument(
        "--color", choices=["auto", "always", "never"], default="auto", help="color the diff"
    )

    back = command(
        "rollback",
        "Put an earlier version's spec back into the Router and wait until it serves.",
        "The spec is written with server-side apply (field manager kubectl-turnout) under "
        "your own permissions; the operator finds the version by its content and redeploys "
        "it under its old number, without asking the engine again.\n\nexample:\n"
        "  kubectl turnout rollback checkout\n  kubectl turnout rollback checkout --to 2\n\n"
        "exit codes: 0 Deployed at the version; 1 the rollout failed or timed out; "
        "3 no such Router or version, or not allowed to patch the Router.",
    )
    back.add_argument("router")
    back.add_argument(
        "--to",
        type=_positive,
        metavar="N",
        help="the version (default: the last deployed one before the current)",
    )
    back.add_argument(
        "--timeout", type=_duration, default=300.0, help="how long to wait (default 5m)"
    )
    back.add_argument("--no-wait", action="store_true", help="write the spec and return")

    engines = command(
        "engines",
        "List the experiment engines: type, health and catalogue size.",
        "example:\n  kubectl turnout engines\n  kubectl turnout engines -o yaml",
    )
    output(engines)

    experiments = command(
        "experiments",
        "List an engine's experiments with their variants and variables.",
        "example:\n  kubectl turnout experiments hardcoded\n"
        "  kubectl turnout experiments hardcoded --client 1 -o json",
    )
    experiments.add_argument("engine")
    experiments.add_argument("--client", metavar="ID", help="only this client's experiments")
    output(experiments)

    clients = command(
        "clients",
        "List an engine's clients (ids and usernames).",
        "example:\n  kubectl turnout clients hardcoded",
    )
    clients.add_argument("engine")
    output(clients)
    return parser


def _print_objects(items: Sequence[Any], fmt: str, out: TextIO, as_list: bool = True) -> None:
    document: Any = {"apiVersion": "v1", "kind": "List", "items": list(items)} if as_list else items
    if fmt == "json":
        out.write(json.dumps(document, indent=4) + "\n")
    else:
        out.write(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


def _clean(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An object as `kubectl get -o yaml` prints it: without managedFields."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def _not_found(error: ApiError, what: str, client: Client | None = None) -> Failure:
    if error.status == 404:
        where = f' in namespace "{client.namespace}"' if client is not None else ""
        return Failure(NOT_FOUND, f"{what} not found{where}")
    if error.status in (401, 403):
        return Failure(NOT_FOUND, error.message)
    return Failure(FAILED, error.message)


def _router(client: Client, name: str) -> dict[str, Any]:
    try:
        return client.router(name)
    except ApiError as error:
        raise _not_found(error, f'router "{name}"', client) from None


def _versions(client: Client, name: str) -> list[dict[str, Any]]:
    try:
        return client.router_versions(name)
    except ApiError as error:
        if error.status == 404:
            raise Failure(
                NOT_FOUND,
                "the RouterVersion resource is not installed (routerversions.turnout.dev)",
            ) from None
        raise _not_found(error, "router versions") from None


def cmd_versions(client: Client, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    router = _router(client, args.router)
    found = _versions(client, args.router)
    if args.output in ("yaml", "json"):
        _print_objects([_clean(v) for v in views.newest_first(found)], args.output, out)
        return OK
    if not found:
        sys.stderr.write(f'router "{args.router}" has no mirrored versions yet\n')
        return OK
    deployed = (router.get("status") or {}).get("deployedVersion")
    out.write(views.versions_table(found, deployed, now, wide=args.output == "wide"))
    return OK


def _by_number(found: Sequence[Mapping[str, Any]], number: int, router: str) -> Mapping[str, Any]:
    for version in found:
        if (version.get("spec") or {}).get("version") == number:
            return version
    raise Failure(NOT_FOUND, f'router "{router}" has no mirrored version {number}')


def _current_spec(router: Mapping[str, Any]) -> dict[str, Any]:
    return diffing.as_recorded(router.get("spec") or {})


def cmd_diff(client: Client, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    router = _router(client, args.router)
    found = _versions(client, args.router)
    old = _by_number(found, args.a, args.router)["spec"]
    old_text = diffing.version_document(old.get("routerSpec"), old.get("experimentEngine"))
    old_label = f"{args.router} v{args.a}"
    if args.b is None:
        new_text = diffing.version_document(_current_spec(router), None)
        new_label = f"{args.router} (current spec)"
        old_text = diffing.version_document(old.get("routerSpec"), None)
    else:
        new = _by_number(found, args.b, args.router)["spec"]
        new_text = diffing.version_document(new.get("routerSpec"), new.get("experimentEngine"))
        new_label = f"{args.router} v{args.b}"
    text = diffing.unified(old_text, new_text, old_label, new_label)
    color = args.color == "always" or (args.color == "auto" and out.isatty())
    out.write(diffing.colored(text) if color else text)
    return FAILED if (args.exit_code and text) else OK


def _write_spec(
    client: Client, name: str, live: Mapping[str, Any], target: Mapping[str, Any]
) -> dict[str, Any]:
    """Server-side apply of the version's spec. Keys of the live spec that the version lacks
    and another field manager owns cannot be removed by apply; then the spec goes in one
    merge patch (guarded by the resourceVersion) that also removes them."""
    extra = rollback.leftovers(live.get("spec") or {}, target)
    if not extra:
        return client.apply_router_spec(name, target)
    patch = {
        "metadata": {"resourceVersion": (live.get("metadata") or {}).get("resourceVersion")},
        "spec": rollback.removal_patch(target, extra),
    }
    return client.merge_patch_router(name, patch)


def cmd_rollback(
    client: Client,
    args: argparse.Namespace,
    out: TextIO,
    now: datetime,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    router = _router(client, args.router)
    status = router.get("status") or {}
    if (router.get("spec") or {}).get("suspend"):
        raise Failure(
            FAILED, f'router "{args.router}" is suspended; set spec.suspend to false first'
        )
    found = _versions(client, args.router)
    try:
        chosen = rollback.choose_target(found, status, args.to)
    except rollback.TargetError as error:
        raise Failure(NOT_FOUND if error.missing else FAILED, error.message) from None
    number = int(chosen["spec"]["version"])
    target_spec = rollback.target_spec(
        chosen["spec"].get("routerSpec") or {}, router.get("spec") or {}
    )
    try:
        written = _write_spec(client, args.router, router, target_spec)
    except ApiError as error:
        if error.status == 409:
            raise Failure(
                FAILED, f"the Router changed meanwhile; try again: {error.message}"
            ) from None
        raise _not_found(error, f'router "{args.router}"', client) from None
    generation = int((written.get("metadata") or {}).get("generation", 0))
    sys.stderr.write(f"{args.router}: spec of version {number} written (generation {generation})\n")
    if args.no_wait:
        out.write(f"router.turnout.dev/{args.router} rolling back to version {number}\n")
        return OK
    deadline = clock() + args.timeout
    last = ""
    while True:
        try:
            body = client.router(args.router)
        except ApiError as error:
            raise _not_found(error, f'router "{args.router}"', client) from None
        state = rollback.progress(args.router, body, generation, number)
        if state.line != last:
            sys.stderr.write(state.line + "\n")
            last = state.line
        if state.done:
            out.write(f"router.turnout.dev/{args.router} rolled back to version {number}\n")
            return OK
        if state.failed:
            return FAILED
        if clock() >= deadline:
            sys.stderr.write(
                f"{args.router}: timed out after {args.timeout:g}s waiting for version {number}\n"
            )
            return FAILED
        sleep(0.5)


def _engine(client: Client, name: str) -> dict[str, Any]:
    try:
        return client.engine(name)
    except ApiError as error:
        raise _not_found(error, f'experiment engine "{name}"') from None


def cmd_engines(client: Client, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    try:
        found = client.engines()
    except ApiError as error:
        if error.status == 404:
            raise Failure(
                NOT_FOUND,
                "the ExperimentEngine resource is not installed (experimentengines.turnout.dev)",
            ) from None
        raise _not_found(error, "experiment engines") from None
    if args.output:
        _print_objects([_clean(e) for e in found], args.output, out)
        return OK
    if not found:
        sys.stderr.write("no experiment engines found\n")
        return OK
    out.write(views.engines_table(found, now))
    return OK


def cmd_experiments(client: Client, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    engine = _engine(client, args.engine)
    found = views.experiments_of(engine, args.client)
    if args.output:
        _print_objects(found, args.output, out, as_list=False)
        return OK
    if not found:
        whose = f" for client {args.client}" if args.client else ""
        sys.stderr.write(f'engine "{args.engine}" lists no experiments{whose}\n')
        return OK
    out.write(views.experiments_table(found))
    return OK


def cmd_clients(client: Client, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    engine = _engine(client, args.engine)
    if args.output:
        _print_objects(
            list((engine.get("status") or {}).get("clients") or []), args.output, out, as_list=False
        )
        return OK
    out.write(views.clients_table(engine))
    return OK


COMMANDS: Final = {
    "versions": cmd_versions,
    "diff": cmd_diff,
    "rollback": cmd_rollback,
    "engines": cmd_engines,
    "experiments": cmd_experiments,
    "clients": cmd_clients,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    client: Client | None = None
    try:
        client = Client(Target(args.kubeconfig, args.context, args.namespace))
        return COMMANDS[args.command](client, args, sys.stdout, datetime.now(UTC))
    except Failure as failure:
        sys.stderr.write(f"error: {failure.message}\n")
        return failure.code
    except ApiError as error:
        sys.stderr.write(f"error: {error.message}\n")
        return NOT_FOUND if error.status in (401, 403, 404) else FAILED
    except KeyboardInterrupt:
        return FAILED
    finally:
        if client is not None:
            client.close()


def run() -> NoReturn:
    """The `kubectl-turnout` executable."""
    sys.exit(main())


if __name__ == "__main__":
    run()
