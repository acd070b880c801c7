"""The `coopchain` command line (SPEC §6).

Commands import what they need when they run: `coopchain verify` must work with
numpy and the standard library alone (an auditor's machine has no solver), and
`coopchain --help` should not wait for Pyomo.  argparse, from the standard
library, is the parser for that reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


EXIT_OK, EXIT_INFEASIBLE, EXIT_USAGE, EXIT_INVALID = 0, 1, 2, 3
SEAL_KINDS = ("signed", "pow", "rpca16", "pos", "endorsement")  # chain.seals.KINDS, without importing the ledger


class CommandError(Exception):
    """A message for the user and the exit code that goes with it."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def _load(path: str, header: str | None):
    from coopchain.models.problem import ProblemError, load_problem_file

    try:
        problem = load_problem_file(path, header)
    except ProblemError as e:
        count = len(e.issues)
        found = f"{count} issues" if count > 1 else "1 issue"
        raise CommandError(f"{path}: the problem document is not valid ({found}):\n" + "\n".join(f"  - {line}" for line in str(e).splitlines())) from e
    for notice in problem.notices:  # what reading changed or assumed (alpha rescaled, a semicolon-separated table)
        print(f"note: {notice}", file=sys.stderr)
    return problem


def _load_prepared(path: str, header: str | None):
    """A problem read for solving: read, validated, canonicalised, hashed and in arrays once (models.problem_columns).

    Its errors are models.problem's, word for word: the columnar reader hands any
    document it cannot vouch for to that reader."""
    from coopchain.models.problem_columns import load_prepared
    from coopchain.models.problem_canonical import ProblemError  # not models.problem: no pydantic on this path

    try:
        loaded = load_prepared(path, header, parallel=True)  # a command, no threads of its own yet: it may fork a writer
    except ProblemError as e:
        count = len(e.issues)
        found = f"{count} issues" if count > 1 else "1 issue"
        raise CommandError(f"{path}: the problem document is not valid ({found}):\n" + "\n".join(f"  - {line}" for line in str(e).splitlines())) from e
    for notice in loaded.problem.notices:
        print(f"note: {notice}", file=sys.stderr)
    return loaded


def _progress_bar(description: str):
    """A tqdm bar on a terminal (stderr), nothing when output goes to a file or pipe."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from tqdm.auto import tqdm

    bar = tqdm(total=1000, desc=description, unit="‰", leave=False, file=sys.stderr)

    def update(fraction: float, message: str) -> None:
        bar.n = int(fraction * 1000)
        bar.set_postfix_str(message, refresh=True)

    return update, bar.close


def _readable(args) -> bool:
    """A summary for a person at a terminal; the JSON of SPEC §6 with --json and whenever output is piped."""
    return not args.json and sys.stdout.isatty()


def _write(path: str, text: str | bytes, option: str) -> None:
    """Write text (or UTF-8 bytes) and a newline; bytes go as they are, with no copy (half a gigabyte at n = 10^6)."""
    try:
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode("utf-8"))
            f.write(b"\n")
    except OSError as e:
        raise CommandError(f"{option} {path}: cannot write it ({e.strerror})") from e


def _solution_bytes(document: dict, pretty: bool) -> bytes:
    """A solve's JSON as UTF-8.  orjson writes the certificate's embedded problem text (37 MiB at n = 100,000,
    every quote escaped) ~20x faster than json; json still writes what orjson cannot (an integer past
    64 bits) and the indented form.  Both write each float in its shortest round-trip digits."""
    if not pretty:
        import orjson

        try:
            return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
        except (TypeError, orjson.JSONEncodeError):
            pass
    return json.dumps(document, indent=1 if pretty else None, ensure_ascii=False).encode("utf-8")


def _solution_text(document: dict, pretty: bool) -> str:
    return _solution_bytes(document, pretty).decode("utf-8")


def _pairs(text: str | None, option: str) -> dict[str, float]:
    """"F1=1,F3=0.5" -> {"F1": 1.0, "F3": 0.5}."""
    out = {}
    for part in filter(None, (text or "").split(",")):
        name, sep, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise CommandError(f"{option}: expected NAME=NUMBER pairs separated by commas, got {part!r}") from None
        if not sep:
            raise CommandError(f"{option}: expected NAME=NUMBER, got {part!r}")
    return out


def cmd_solve(args) -> int:
    from coopchain.service.solving import SolveRequest, SolveRequestError, solve_problem

    if args.method is None and args.objective is None:
        raise CommandError("say what to optimise: --objective F1|F2|F3, or a --method of scalarisation")
    order = tuple(k.strip() for k in (args.order or "").split(",") if k.strip())
    request = SolveRequest(args.objective, args.method, _pairs(args.weights, "--weights"), _pairs(args.limits, "--limits"), order,
                           _pairs(args.reference, "--reference"), args.backend)
    loaded = _load_prepared(args.problem, args.header)
    problem = loaded.problem
    label = args.method or (f"max {args.objective}" if args.objective != "F3" else "min F3")
    update, close = _progress_bar(label)
    try:
        solution = solve_problem(loaded.prepared, request, progress=update)  # the service the API calls too
    except SolveRequestError as e:
        raise CommandError(f"--{e.field}: {e}") from e
    finally:
        close()
    out = _solution_bytes(solution.as_json(), args.pretty)
    if args.output:
        _write(args.output, out, "--output")
    if args.certificate and solution.certificate is not None:
        # For auditors: the v3 certificate and, beside it, the problem's columns form it names by hash, which
        # `coopchain verify` reads without parsing a number (the solve's output keeps v2 and the text, to commit).
        from coopchain.models.certificate import columns_certificate
        from coopchain.models.problem_columns import columns_form

        form = columns_form(loaded)
        _write(args.certificate, json.dumps(columns_certificate(solution.certificate, form)), "--certificate")
        beside = problem_beside(Path(args.certificate))
        try:
            beside.write_bytes(form)
        except OSError as e:
            raise CommandError(f"--certificate {beside}: cannot write it ({e.strerror})") from e
    if _readable(args):
        from coopchain.app.summary import solution_summary

        print(solution_summary(problem, solution, (solution.certificate or {}).get("problem_hash")))
        if args.output:
            print(f"JSON written to {args.output}")
    elif not args.output:
        print(out.decode("utf-8"))
    if solution.status == "infeasible":
        return EXIT_INFEASIBLE
    if not solution.success:
        raise CommandError(solution.message, EXIT_INVALID)
    return EXIT_OK


def problem_beside(certificate: Path, schema: str | None = None) -> Path:
    """Where a bare certificate's problem is written, and looked for: its columns form NAME.problem.bin beside
    NAME.json (a v3 certificate), or its canonical text NAME.problem.json (v2, as earlier versions wrote)."""
    from coopchain.models.certificate import SCHEMA
    from coopchain.models.problem_form import SUFFIX

    return certificate.with_name(certificate.stem + (".problem.json" if schema == SCHEMA else SUFFIX))


def cmd_verify(args) -> int:
    # One BLAS thread unless the user chose: the verifier decides nothing with BLAS (its sums are in a fixed
    # order), and OpenBLAS starting a thread per core is 60 ms of numpy's import (0.2 -> 0.15 s here).
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from coopchain.models.certificate import SCHEMA_V3, CertificateError, verify_certificate
    from coopchain.models.certificate_verify import check_solve_output, read_text

    try:
        raw = Path(args.file).read_bytes()
    except OSError as e:
        raise CommandError(f"{args.file}: cannot read it ({e.strerror})") from e
    try:
        document = read_text(raw, what=args.file)  # strict: duplicate keys, NaN, huge integers, deep nesting refused
    except CertificateError as e:
        if e.code == "not_json":
            raise CommandError(f"{args.file}: not JSON ({e})") from e
        print(f"invalid: {e} [{e.code}]")
        return EXIT_INVALID
    # By its type, without importing chain/: a certificate's check needs numpy alone (SPEC §6).
    if isinstance(document, dict) and document.get("type") == "coopchain/bundle/v2":
        from coopchain.app.ledger_commands import verify_bundle_file

        return verify_bundle_file(document, args.genesis, args.since, args.policy)
    if args.policy:
        raise CommandError("--policy is for audit bundles; this file is a certificate")
    if isinstance(document, dict) and isinstance(document.get("points"), list) and "certificate" not in document:
        return _verify_front(document, args)
    if args.point is not None:
        raise CommandError("--point chooses a point of a front; this file is a certificate")
    # A solve's output holds its certificate; a bare certificate is accepted too.
    cert = document.get("certificate", document) if isinstance(document, dict) else document
    # A v2 certificate names its problem by hash: the canonical text is beside it in a solve's output, or in --problem.
    problem = document.get("problem_text") if cert is not document else None
    beside = problem_beside(Path(args.file), cert.get("schema") if isinstance(cert, dict) else None)
    if problem is None and not args.problem and beside.exists():  # what `solve --certificate` writes beside it
        args.problem = str(beside)
    if args.problem:
        problem = _problem_argument(args, cert.get("problem_hash") if isinstance(cert, dict) else None)
        if isinstance(problem, _Refusal):
            print(f"invalid: {problem}")
            return EXIT_INVALID
    try:
        verified = verify_certificate(cert, problem)
        if cert is not document:
            check_solve_output(document, cert, verified)  # the top-level allocation and values are the certificate's
    except CertificateError as e:
        print(f"invalid: {e} [{e.code}]")
        return EXIT_INVALID
    v = verified.values
    # A v3 certificate names its problem by the hash of the problem's columns form, not of its text (which the
    # solve's summary and the ledger show): said, so that an auditor comparing the two is not misled.
    named = " (its columns form)" if cert.get("schema") == SCHEMA_V3 else ""
    print(
        f"valid: {verified.proven} for problem{named} {verified.problem_hash}, "
        f"relative gap {verified.gap:.1e} (bound {verified.bound:.10g}); "
        f"F1 = {v.F1:.6g}, F2 = {v.F2:.6g} ({v.coordination_class}), F3 = {v.F3:.6g}"
    )
    return EXIT_OK


class _Refusal(str):
    """Why --problem cannot be read strictly, with its code (a verdict, not a usage error)."""


def _problem_argument(args, named: str | None) -> str | bytes:
    """--problem: the columns form (bytes, as it is), the canonical text, or the document as a manager wrote it (JSON or CSV) put in canonical form."""
    from coopchain.models.certificate_verify import MAX_PROBLEM_CHARS, decode_problem
    from coopchain.models.problem_form import MAX_FORM_BYTES, SUFFIX, looks_like_form

    try:
        # Sized before it is read: no problem, as a form or as its text, is larger (a sparse 4 GiB file beside a
        # certificate was read whole, then a MemoryError).
        size = Path(args.problem).stat().st_size
        if size > (MAX_FORM_BYTES if args.problem.endswith(SUFFIX) else 4 * MAX_PROBLEM_CHARS):
            return _Refusal(f"{args.problem} has {size:,} bytes: more than any problem the verifier reads [too_large]")
        data = Path(args.problem).read_bytes()
        if args.problem.endswith(SUFFIX) or looks_like_form(data):
            return data  # a problem's columns form (by its name or its first line): the verifier proves it as it is
        data = data[:-1] if data.endswith(b"\n") else data  # a canonical text ends with "}"; an editor may add a newline
        problem, digest = decode_problem(data)  # the verifier then takes the bytes and their hash from there
    except OSError as e:
        raise CommandError(f"{args.problem}: cannot read it ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise CommandError(f"{args.problem}: not UTF-8 text (byte {e.start})") from e
    # The bytes read are the text's UTF-8 (strict decoding leaves no surrogate): hashed as they are, not encoded again.
    if isinstance(named, str) and digest != named:
        # Not the canonical text itself: the problem document as a manager wrote it (JSON or CSV), in canonical
        # form.  The verifier still proves that text canonical and checks its hash against the certificate's.
        # Read strictly first, as the verifier reads: a duplicated key would otherwise be read last-wins, and
        # the problem proven would not be the one a reader of the file sees (review R-8).
        refusal = _strict_document_refusal(args.problem, problem, args.header)
        if refusal is not None:
            return _Refusal(refusal)
        problem = _load_prepared(args.problem, args.header).prepared.canonical
    return problem


def _verify_front(document: dict, args) -> int:
    """`coopchain verify FRONT [--point I]`: the front's own problem text (or --problem), then every point's
    certificate (or point I's) against it.  Valid only when every point checked carries a certificate that
    proves what it says."""
    from coopchain.models.certificate import CertificateError
    from coopchain.models.certificate_verify import verify_front

    problem = None
    if args.problem:
        named = document.get("problem_hash")
        if not isinstance(named, str):
            named = next((p["certificate"].get("problem_hash") for p in document["points"]
                          if isinstance(p, dict) and isinstance(p.get("certificate"), dict)), None)
        problem = _problem_argument(args, named)
        if isinstance(problem, _Refusal):
            print(f"invalid: {problem}")
            return EXIT_INVALID
    try:
        verdicts = verify_front(document, problem, args.point)
    except CertificateError as e:
        print(f"invalid: {e} [{e.code}]")
        return EXIT_INVALID
    bad = 0
    for item in verdicts:
        if item.verified is not None:
            v = item.verified
            print(f"valid: point {item.index}: {v.proven} for problem {v.problem_hash}, relative gap {v.gap:.1e}; "
                  f"F1 = {v.values.F1:.6g}, F2 = {v.values.F2:.6g}, F3 = {v.values.F3:.6g}")
        elif item.error is not None:
            bad += 1
            print(f"invalid: point {item.index}: {item.error} [{item.error.code}]")
        else:
            bad += 1
            print(f"not certified: point {item.index} carries no certificate: nothing here proves it optimal "
                  f"(`coopchain commit FRONT --pick {item.index}` certifies the allocation it commits)")
    return EXIT_OK if not bad else EXIT_INVALID


def _strict_document_refusal(path: str, text: str, header: str | None) -> str | None:
    """Why a problem document (or a CSV table's JSON header) cannot be read strictly, with its code; None if it can."""
    from coopchain.models.strict_json import StrictJsonError, loads

    if Path(path).suffix.lower() == ".csv":
        header_path = Path(header) if header else Path(path).with_name(Path(path).stem + ".header.json")
        try:
            path, text = str(header_path), header_path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None  # the loader says why it cannot read it
    try:
        loads(text.removeprefix("\ufeff"), what=path)
    except StrictJsonError as e:
        return None if e.code == "not_json" else f"{e} [{e.code}]"  # not JSON at all: the loader says where
    return None


def cmd_demo(args) -> int:
    from coopchain.app.demo import run_demo

    return run_demo(args)


def cmd_front(args) -> int:
    from coopchain.service.fronts import FrontRequest, FrontRequestError, compute_front

    request = FrontRequest(args.method, args.points, tuple(k.strip() for k in args.objectives.split(",")), args.seed)
    from coopchain.service.front_pool import FrontPool, default_processes

    processes = default_processes() if args.processes is None else args.processes
    if processes < 1:
        raise CommandError(f"--processes: at least 1, got {processes}")
    problem = _load(args.problem, args.header)
    pool = FrontPool(processes) if processes > 1 and args.method == "augmecon" else None
    update, close = _progress_bar(f"{args.method} front")
    try:
        result = compute_front(problem, request, progress=update, pool=pool)  # the service the API's front jobs run
    except FrontRequestError as e:
        raise CommandError(f"--{e.field}: {e}") from e
    finally:
        close()
        if pool is not None:
            pool.close(wait=True)
    front, picks = result.front, result.picks
    if not front.success:
        raise CommandError(f"no front: {front.message}", EXIT_INFEASIBLE)
    document = result.as_json(with_problem=True)  # the problem once at the top: verify and commit --pick need no --problem
    out = json.dumps(document, indent=1 if args.pretty else None, ensure_ascii=False)
    if args.output:
        _write(args.output, out, "--output")
    if _readable(args):
        from coopchain.app.summary import front_summary

        print(front_summary(problem, front, picks, document["hypervolume"]))
        if args.output:
            print(f"JSON written to {args.output}")
    elif not args.output:
        print(out)
    if args.plot:
        from coopchain.models.plots import plot_front

        plot_front(front, args.plot, picks)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return EXIT_OK


DESCRIPTION = """\
Allocation for supply-chain cooperatives: certified optima, committed to a tamper-evident ledger.

The three perspectives of an allocation W (W_j = the volume given to enterprise j,
in the problem document's unit of volume, e.g. tonnes):
  F1  economic benefit, maximised: sum over enterprises and indicators of a_k * e_jk * W_j,
      in the unit of the benefits per unit of volume (e.g. euros, when e_jk is in euros per tonne).
  F2  coordination, maximised: the coupling coordination degree D = sqrt(C * T), a number in [0, 1],
      where C = geometric / arithmetic mean of the development levels U_j = u0_j + g_j * W_j
      (1 when all enterprises are equally developed), T = sum of alpha_j * U_j (the weighted
      average level), and D's class is one of ten 0.1-wide bins from "extreme disorder" (below 0.1)
      to "high-quality coordination" (0.9 and above).
  F3  ecological footprint, minimised: sum over resources of weight_r * (use of r / cooperative cap
      of r), a weighted share of the caps with no unit (0 = no use; with weights summing to 1,
      1 = every cap used up).
The problem document and its CSV form are described in docs/problem.md."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("coopchain")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


class _VersionAction(argparse.Action):
    """--version, looked up only when asked: importlib.metadata costs every other command ~40 ms of start-up."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help="show program's version number and exit"):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"coopchain {_version()}")
        parser.exit()


OWN_COMMANDS = ("demo", "solve", "front", "verify")  # defined in this module: their parsers need no command module


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `command` one of OWN_COMMANDS, only what parsing that command needs.

    A subcommand's parser (its --help, its usage errors) does not depend on its siblings, so
    `coopchain verify` skips importing the ledger, contract, market and witness command modules
    (a few tens of milliseconds of an auditor's start-up)."""
    top = argparse.ArgumentParser(prog="coopchain", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action=_VersionAction)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="the main job on the sample cooperative, in the current folder: solve, front, commit, verify, audit bundle")
    demo.add_argument("problem", nargs="?", help="a problem document instead of the sample")
    demo.add_argument("--db", help="ledger URL (default $COOPCHAIN_DB, else sqlite:///coopchain.db)")
    demo.add_argument("--keys", help="folder of the demo's node and manager keys, made on first use (default $COOPCHAIN_KEYS, "
                      "else the per-user data folder, e.g. ~/.local/share/coopchain/demo-keys: never the current folder)")
    demo.add_argument("--seal", default="signed", choices=SEAL_KINDS, help="the consensus seal of a new demo ledger (default signed)")
    demo.add_argument("--header", help="for a CSV problem: the JSON of the cooperative-level fields")
    demo.add_argument("--pick", default="topsis", help="which point of the front to commit: knee, ideal, topsis (default) or its index")
    demo.set_defaults(run=cmd_demo)

    solve = sub.add_parser("solve", help="optimise one objective or a scalarisation: a summary on a terminal, JSON with --json or in a pipe")
    solve.add_argument("problem", help="problem document: .json, or .csv with --header")
    solve.add_argument("--header", help="for a CSV problem: the JSON of the cooperative-level fields")
    solve.add_argument("--objective", choices=["F1", "F2", "F3"], help="max F1, max F2 or min F3 (with --method epsilon: the one to optimise)")
    solve.add_argument("--method", choices=["weighted", "epsilon", "lexicographic", "chebyshev"], help="a scalarisation of F1, F2, F3 instead of one objective")
    solve.add_argument("--weights", help="weighted / chebyshev: e.g. F1=1,F2=2,F3=1 (default all 1)")
    solve.add_argument("--limits", help="epsilon: limits of the other objectives, e.g. F1=5000,F3=0.9 (F1 at least, F3 at most)")
    solve.add_argument("--order", help="lexicographic: e.g. F1,F3,F2 (F2 first or last)")
    solve.add_argument("--reference", help="chebyshev: the reference point, e.g. F1=30000,F3=0.4 (default: the ideal point)")
    solve.add_argument("--backend", default="highs", choices=["highs", "pyomo"], help="how the LPs reach HiGHS (default: arrays)")
    solve.add_argument("--output", help="write the JSON here instead of standard output")
    solve.add_argument("--certificate", help="also write the bare certificate here, v3 (and the problem's columns form it names by hash beside it, as NAME.problem.bin)")
    solve.add_argument("--json", action="store_true", help="print the JSON even on a terminal (it is always printed into a pipe)")
    solve.add_argument("--pretty", action="store_true", help="indent the JSON")
    solve.set_defaults(run=cmd_solve)

    front = sub.add_parser("front", help="the Pareto front, its hypervolume and compromise picks: a summary on a terminal, JSON with --json or in a pipe")
    front.add_argument("problem", help="problem document: .json, or .csv with --header")
    front.add_argument("--header", help="for a CSV problem: the JSON of the cooperative-level fields")
    front.add_argument("--method", default="augmecon", choices=["augmecon", "nsga2", "nsga3"])
    front.add_argument("--points", type=int, default=100, help="grid points (augmecon) or population (nsga)")
    front.add_argument("--objectives", default="F1,F2,F3", help="two or three of F1, F2, F3, T (default F1,F2,F3)")
    front.add_argument("--seed", type=int, default=0, help="seed of the evolutionary methods")
    front.add_argument("--processes", type=int, default=None, metavar="N",
                       help="augmecon: worker processes for the grid points (default: the cores; 1 runs them here, one after another); the front is the same")
    front.add_argument("--plot", help="also draw the front into this PNG file")
    front.add_argument("--output", help="write the JSON here instead of standard output")
    front.add_argument("--json", action="store_true", help="print the JSON even on a terminal (it is always printed into a pipe)")
    front.add_argument("--pretty", action="store_true", help="indent the JSON")
    front.set_defaults(run=cmd_front)

    verify = sub.add_parser("verify", help="check a certificate (or a solve's JSON) offline, with numpy alone")
    verify.add_argument("file")
    verify.add_argument("--problem", help="the problem a bare certificate names by hash: its columns form (NAME.problem.bin), its canonical text, or the document itself")
    verify.add_argument("--header", help="with --problem as CSV: the header document (as for solve)")
    verify.add_argument("--point", type=int, metavar="INDEX", help="a front: check only this point (default: every point)")
    verify.add_argument("--genesis", help="bundles: the genesis block hash you trust (hex)")
    verify.add_argument("--since", help="bundles: an earlier head (JSON) the bundle's head must extend")
    verify.add_argument("--policy", help="bundles: your trust policy (genesis, node key, witnesses, quorum; docs/trust.md)")
    verify.set_defaults(run=cmd_verify)
    if command in OWN_COMMANDS:
        return top
    _ledger_parsers(sub)
    from coopchain.app.contract_commands import add_parsers as _contract_parsers

    _contract_parsers(sub)
    from coopchain.app.market_commands import add_parsers as _market_parsers

    _market_parsers(sub)
    return top


def _ledger_parsers(sub) -> None:
    from coopchain.app import ledger_commands as lc

    keys = sub.add_parser("keys", help="signing keys").add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    new = keys.add_parser("new", help="make a key file (mode 0600, never overwritten); prints the public key")
    new.add_argument("path")
    new.add_argument("--scheme", default="ed25519", choices=["ed25519", "p256"])
    new.set_defaults(run=lc.cmd_keys_new)
    from coopchain.app.api.commands import add_parsers as _api_parsers

    _api_parsers(sub, keys)

    chain = sub.add_parser("chain", help="the ledger: init, verify, replay, bundle").add_subparsers(dest="chain_command", required=True, metavar="COMMAND")
    db_help = "ledger URL (default $COOPCHAIN_DB, else sqlite:///coopchain.db)"
    init = chain.add_parser("init", help="create a ledger: its genesis records the chain id, seal kind and node key")
    init.add_argument("--db", help=db_help)
    init.add_argument("--node-key", required=True, help="the node's key file (coopchain keys new)")
    init.add_argument("--chain-id", required=True)
    init.add_argument("--seal", default="signed", choices=SEAL_KINDS)
    init.add_argument("--seal-params", help="the seal's genesis parameters as JSON (docs/ledger.md)")
    init.add_argument("--admin", help="the public key that registers cooperatives (default: the node's key)")
    init.set_defaults(run=lc.cmd_chain_init)
    for name, run, text in (("verify", lc.cmd_chain_verify, "re-check every hash, signature, seal, root and timestamp; name the first bad block"),
                            ("replay", lc.cmd_chain_replay, "re-run every transaction and compare each state root")):
        command = chain.add_parser(name, help=text)
        command.add_argument("--db", help=db_help)
        command.add_argument("--since", metavar="HEAD", help=lc.SINCE_HELP)
        command.add_argument("--checkpoint", metavar="COSIGNED", help="a cosigned checkpoint the ledger must still hold: a ledger truncated or rewritten below it fails, naming it (docs/trust.md)")
        command.add_argument("--policy", help="with --checkpoint: verify the checkpoint under your trust policy (genesis, node key, witnesses, quorum)")
        command.set_defaults(run=run)
    bundle = chain.add_parser("bundle", help="the audit bundle of a record transaction (verify it with coopchain verify)")
    bundle.add_argument("transaction", help="the transaction hash (hex)")
    bundle.add_argument("--db", help=db_help)
    bundle.add_argument("--since", type=int, help="height of an earlier head the auditor holds: adds a consistency proof")
    bundle.add_argument("--output", help="write the bundle here instead of standard output")
    bundle.add_argument("--checkpoint", help="a cosigned checkpoint covering the head, to carry in the bundle (docs/trust.md)")
    bundle.set_defaults(run=lc.cmd_chain_bundle)
    checkpoint = chain.add_parser("checkpoint", help="the head as a signed C2SP checkpoint (docs/trust.md)")
    checkpoint.add_argument("--db", help=db_help)
    checkpoint.add_argument("--node-key", help="the node's key file: signs the checkpoint")
    checkpoint.add_argument("--old", type=int, help="print a witness's add-checkpoint request from this size instead")
    checkpoint.add_argument("--vkey", action="store_true", help="print the node's checkpoint verifier key instead")
    checkpoint.add_argument("--check", metavar="COSIGNED", help="check instead that the ledger still holds this cosigned checkpoint (not truncated, not rewritten)")
    checkpoint.add_argument("--policy", help="with --check: verify the checkpoint under your trust policy (node key, witnesses, quorum)")
    checkpoint.add_argument("--output", help="write it here instead of standard output")
    checkpoint.set_defaults(run=lc.cmd_chain_checkpoint)
    publish = chain.add_parser("publish-checkpoint", help="sign the head's checkpoint, have witnesses cosign it, store it for GET /checkpoint and bundles")
    publish.add_argument("--db", help=db_help)
    publish.add_argument("--node-key", required=True, help="the node's key file: signs the checkpoint")
    publish.add_argument("--witness", action="append", required=True, metavar="URL", help="a witness's submission prefix, e.g. http://w1.example:8081 (repeat for each)")
    publish.add_argument("--output", help="also write the cosigned checkpoint here")
    publish.add_argument("--every", type=int, metavar="N", help="keep running: publish each time the ledger has grown by N blocks (run it beside `coopchain serve`)")
    publish.add_argument("--poll", type=float, default=5.0, metavar="SECONDS", help="with --every: how often to look at the head (default 5)")
    publish.set_defaults(run=lc.cmd_chain_publish_checkpoint)
    from coopchain.app.witness_commands import add_parsers as witness_parsers

    witness_parsers(sub)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parser(argv[0] if argv else None).parse_args(argv)
    except SystemExit as e:  # --help, --version and usage errors print, then exit
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            return _reader_gone()
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_USAGE)
    except BrokenPipeError:
        return _reader_gone()
    try:
        code = args.run(args)
        sys.stdout.flush()  # here, so that a reader who left (`| head`) is met below, not at exit
        return code
    except BrokenPipeError:
        return _reader_gone()
    except CommandError as e:
        print(f"coopchain {args.command}: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


EXIT_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a command that a pipe's reader left


def _reader_gone() -> int:
    """The reader of standard output has closed it (`coopchain … | head`): stop quietly, as Unix tools do.

    What is still buffered can never be written; pointing stdout at /dev/null lets the
    interpreter's own flush at exit succeed instead of printing a second traceback
    (Python documentation, "Note on SIGPIPE").
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_PIPE


if __name__ == "__main__":
    # Run as `python -m coopchain.app.cli`: call the imported module's main, so that its classes
    # (CommandError) are the same objects the command modules import.
    from coopchain.app.cli import main as _main

    sys.exit(_main())
