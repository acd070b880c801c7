"""The ledger's commands: `keys new`, `chain init|verify|replay|bundle`, and committing the demo's allocation through the allocation contract.

Wiring only: the ledger's rules are in chain/, the certificate's in models/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from coopchain.app import command_io
from coopchain.app.cli import EXIT_INVALID, EXIT_OK, CommandError, _progress_bar

DEMO_CHAIN_ID = "coopchain-demo"


_key = command_io.key_file  # the names the other command modules import
_ledger = command_io.open_ledger


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def cmd_keys_new(args) -> int:
    from coopchain.chain.keys import PrivateKey

    key = PrivateKey.generate(args.scheme)
    try:
        key.save(args.path)
    except FileExistsError as e:
        raise CommandError(str(e.strerror or e)) from e
    except OSError as e:
        raise CommandError(f"{args.path}: cannot write the key file ({e.strerror})") from e
    print(key.public_key.to_text())
    print(f"private key written to {args.path} (mode 0600); it is never printed", file=sys.stderr)
    return EXIT_OK


def cmd_chain_init(args) -> int:
    from coopchain.chain.errors import ChainError
    from coopchain.service.wiring import create_ledger

    try:
        params = json.loads(args.seal_params) if args.seal_params else {}
    except ValueError as e:
        raise CommandError(f"--seal-params: not JSON ({e})") from e
    try:  # records, cooperatives (registered by the admin key, default the node's) and allocations
        ledger = create_ledger(args.db, _key(args.node_key), args.chain_id, args.seal, params, admin=getattr(args, "admin", None))
    except ChainError as e:
        raise CommandError(str(e)) from e
    from coopchain.chain.block import block_hash

    print(f"genesis {block_hash(ledger.genesis).hex()} of chain {args.chain_id!r}, seal {args.seal}")
    ledger.close()
    return EXIT_OK


SINCE_HELP = ("a head you saw before, which the ledger must still hold, so that a truncated ledger fails: "
              "the head's block hash (64 hex digits), HEIGHT:HASH as `chain verify` prints it, or the head's JSON "
              "as an audit bundle carries it (a header, or the whole bundle), inline or in a file")


def _walk(args, replay: bool) -> int:
    from coopchain.chain.verify import BadBlock, replay_chain, verify_chain

    from coopchain.chain.errors import ChainError
    from coopchain.chain.pinned import BadPin, parse_pinned_head
    from coopchain.chain.store import open_store

    try:
        since = parse_pinned_head(args.since) if getattr(args, "since", None) else None
    except BadPin as e:
        raise CommandError(f"--since: {e}") from e
    pinned = _pinned_checkpoint(args)
    try:  # the store, not a Ledger: a damaged genesis is a finding of verify, not an error of opening
        store = open_store(args.db)
    except ChainError as e:
        raise CommandError(str(e)) from e
    update, close = _progress_bar("replay" if replay else "verify")
    try:
        from coopchain.service.wiring import contracts

        try:
            report = (replay_chain if replay else verify_chain)(store, (lambda done, all_: update(done / all_, f"block {done}/{all_}")) if update else None, since, contracts())
        except BadBlock as e:
            print(f"invalid: {e}")
            return EXIT_INVALID
        except BadPin as e:  # a HEIGHT:HASH whose hash is another height's
            raise CommandError(f"--since: {e}") from e
        finally:
            close()
        held_checkpoint = ""
        if pinned is not None:  # a valid chain can still be a truncated or rewritten one: the checkpoint says which
            unheld, cp, who = _checkpoint_verdict(store, *pinned)
            if unheld:
                print(f"invalid: {unheld}")
                return EXIT_INVALID
            held_checkpoint = f"; it holds the checkpoint of {_count(cp.size, 'block')} (root {cp.root.hex()}, cosigned by {who})"
    finally:
        store.close()
    what = "replayed: every state and receipts root matches" if replay else "valid: every hash, signature, seal, receipt, root and timestamp checks"
    held = f"; it holds the head passed with --since (block {report.pinned_height})" if since is not None else ""
    # HEIGHT:HASH, as --since takes it back.
    print(f"{what}; {_count(report.blocks, 'block')}, {_count(report.transactions, 'transaction')}, head {report.blocks - 1}:{report.head_hash.hex()}, state root {report.state_root.hex()}{held}{held_checkpoint}")
    return EXIT_OK


def _pinned_checkpoint(args):
    """--checkpoint COSIGNED [--policy FILE], read and parsed (not yet checked): (note, policy or None), or None."""
    if getattr(args, "policy", None) and not getattr(args, "checkpoint", None):
        raise CommandError("--policy needs --checkpoint (the cosigned checkpoint to hold the ledger to)")
    if not getattr(args, "checkpoint", None):
        return None
    from coopchain.chain.policy import PolicyError, parse_policy

    note = _read_bytes(args.checkpoint, "--checkpoint")
    policy = None
    if args.policy:
        try:
            policy = parse_policy(_read_bytes(args.policy, "--policy").decode("utf-8"))
        except (UnicodeDecodeError, PolicyError) as e:
            raise CommandError(f"--policy {args.policy}: {e}") from e
    return note, policy


def _checkpoint_verdict(store, note: bytes, policy) -> tuple[str | None, object, str]:
    """(why the stored ledger does not hold the checkpoint: signature, quorum, truncation, rewrite; or None,
    the checkpoint, who cosigned it).

    The checkpoint is checked under the policy (its genesis must be the ledger's), else against the
    node key of the ledger's own genesis."""
    from coopchain.chain.block import block_hash, decode_header
    from coopchain.chain.checkpoint import CheckpointMismatch, MalformedNote, NoteSignatureError, chain_origin, check_ledger_holds, note_key, verify_checkpoint
    from coopchain.chain.keys import PublicKey
    from coopchain.chain.policy import QuorumNotMet, verify_checkpoint_policy

    genesis = decode_header(store.header_bytes(0))
    genesis_hash = block_hash(genesis)
    try:
        if policy is not None:
            if genesis_hash != policy.genesis:
                return f"this ledger's genesis {genesis_hash.hex()} is not the policy's {policy.genesis.hex()}: another chain", None, ""
            report = verify_checkpoint_policy(note, policy)
            cp, who = report.checkpoint, ", ".join(c.name for c in report.cosigners) or "no witness"
        else:
            key = note_key(chain_origin(genesis.config.chain_id, genesis_hash), PublicKey.from_text(genesis.config.node))
            verified = verify_checkpoint(note, key)
            cp, who = verified.checkpoint, f"{len(verified.note.signatures) - 1} witness line(s), unchecked without --policy"
    except (MalformedNote, NoteSignatureError, QuorumNotMet) as e:
        return f"the checkpoint: {e}", None, ""
    try:
        check_ledger_holds(store, cp)
    except CheckpointMismatch as e:
        return f"{e} (the checkpoint of {_count(cp.size, 'block')}, root {cp.root.hex()}, cosigned by {who})", cp, who
    return None, cp, who


def cmd_chain_verify(args) -> int:
    return _walk(args, replay=False)


def cmd_chain_replay(args) -> int:
    return _walk(args, replay=True)


def cmd_chain_bundle(args) -> int:
    from coopchain.chain.errors import ChainError

    try:
        tx_hash = bytes.fromhex(args.transaction)
    except ValueError:
        raise CommandError(f"expected a transaction hash in hex, got {args.transaction!r}") from None
    note = _read_bytes(args.checkpoint, "--checkpoint") if getattr(args, "checkpoint", None) else None
    ledger = _ledger(args.db)
    try:
        from coopchain.service.bundles import audit_bundle

        bundle = audit_bundle(ledger, tx_hash, args.since)
        if note is not None:  # a cosigned checkpoint that covers the head (docs/trust.md)
            from coopchain.chain.checkpoint import bundle_checkpoint

            bundle["checkpoint"] = bundle_checkpoint(ledger, bundle["head"]["height"], note)
    except ChainError as e:
        raise CommandError(str(e)) from e
    finally:
        ledger.close()
    text = json.dumps(bundle, indent=1)
    if args.output:
        try:
            Path(args.output).write_text(text + "\n")
        except OSError as e:
            raise CommandError(f"--output {args.output}: cannot write it ({e.strerror})") from e
    else:
        print(text)
    return EXIT_OK


def verify_bundle_file(document: dict, genesis: str | None, since: str | None, policy: str | None = None) -> int:
    """`coopchain verify BUNDLE`: the ledger proofs, then the certificate the record carries."""
    from coopchain.chain.bundle import InvalidBundle, verify_bundle

    if policy is not None:
        if genesis or since:
            raise CommandError("--policy pins the genesis and needs no --genesis or --since")
        return _verify_under_policy(document, policy)
    earlier = None
    if since:
        try:
            earlier = json.loads(Path(since).read_text())
        except (OSError, ValueError) as e:
            raise CommandError(f"--since {since}: cannot read an earlier head ({e})") from e
    try:
        trusted = bytes.fromhex(genesis) if genesis else None
    except ValueError:
        raise CommandError("--genesis: expected the genesis block hash in hex") from None
    try:
        record = verify_bundle(document, trusted, earlier)
    except InvalidBundle as e:
        print(f"invalid: {e}")
        return EXIT_INVALID
    said = f"on chain {record.chain_id!r} (genesis {record.genesis_hash.hex()}) in block {record.height}, current at head {record.head_height}"
    seal = document["genesis"]["config"]["seal"]
    if seal != "signed":  # chain.seal_evidence: the seals' evidence travels in the bundle
        said += f"; the {seal} seals of the block and the head checked offline"
    return _check_payload(record, said, document=document)


def _check_payload(record, said: str, signed: list[str] = (), document: dict | None = None) -> int:
    tx = record.transaction
    if tx.kind == "allocation.commit_allocation":  # the allocation contract's own offline check
        from coopchain.contracts.allocation import check_bundled_commit

        try:
            said += "; " + check_bundled_commit(tx, record.receipt, record.state_value, (document or {}).get("extra"))
        except ValueError as e:
            print(f"invalid: the committed allocation: {e}")
            return EXIT_INVALID
        print(f"valid: {said}")
        for line in signed:
            print(f"  {line}")
        return EXIT_OK
    if tx.kind != "record.put":
        said += f"; {tx.kind}, receipt {record.receipt.status}" + (f" ({record.receipt.code})" if record.receipt.code else "")
        print(f"valid: {said}")
        return EXIT_OK
    # A plain record: the chain's proofs are the whole check (allocations are committed through the allocation contract).
    print(f"valid: {said}")
    for line in signed:
        print(f"  {line}")
    return EXIT_OK


def _read_bytes(path: str, option: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as e:
        raise CommandError(f"{option} {path}: cannot read it ({e.strerror})") from e


def _verify_under_policy(document: dict, path: str) -> int:
    """`coopchain verify BUNDLE --policy FILE`: every check of chain.policy, then who signed what."""
    from datetime import datetime, timezone

    from coopchain.chain.bundle import InvalidBundle
    from coopchain.chain.policy import PolicyError, parse_policy, verify_bundle_policy

    try:
        policy = parse_policy(_read_bytes(path, "--policy").decode("utf-8", errors="strict"))
    except UnicodeDecodeError:
        raise CommandError(f"--policy {path}: not UTF-8 text") from None
    except PolicyError as e:
        raise CommandError(f"--policy {path}: {e}") from e
    try:
        report = verify_bundle_policy(document, policy)
    except InvalidBundle as e:
        print(f"invalid: {e}")
        return EXIT_INVALID
    record, cp = report.record, report.checkpoint
    said = f"on chain {record.chain_id!r} (genesis {record.genesis_hash.hex()}, pinned by the policy) in block {record.height}, current at head {record.head_height}"
    seal = document["genesis"]["config"]["seal"]
    if seal != "signed":
        said += f"; the {seal} seals of the block and the head checked offline"
    tx = record.transaction
    when = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")  # noqa: E731
    signed = [
        f"transaction {tx.kind} {tx.payload.get('key')!r}, nonce {tx.nonce}: signed by its sender {tx.sender}",
        (f"block {record.height} and the head {record.head_height}" if record.height != record.head_height else f"block {record.height}, the head")
        + f" ({record.head_hash.hex()}): signed by the node {document['genesis']['config']['node']}",
        f"checkpoint {cp.origin} of {cp.size:,} blocks, root {cp.root.hex()}: signed by the node ({report.node_key})",
    ]
    if seal == "endorsement":  # the seals verified above: who endorsed the block and the head
        heights = sorted({document["block"]["height"], document["head"]["height"]})
        headers = {h["height"]: h for h in (document["block"], document["head"])}
        signed[2:2] = [f"block {h}: endorsed by {', '.join(e['member'] for e in headers[h]['seal']['endorsements'])}" for h in heights]
    signed += [f"cosigned by witness {c.name} ({c.key}) at {when(c.timestamp)}" for c in report.cosigners]
    signed += [f"not cosigned by witness {name}" for name in report.missing]
    signed.append(f"quorum {report.quorum!r}: met")
    return _check_payload(record, said, signed, document)


def cmd_chain_checkpoint(args) -> int:
    """`coopchain chain checkpoint`: the head as a signed C2SP checkpoint, its vkey, or an add-checkpoint request."""
    from coopchain.chain.checkpoint import node_note_key, sign_ledger_checkpoint
    from coopchain.chain.errors import ChainError

    if getattr(args, "check", None):
        return _check_checkpoint(args)
    ledger = _ledger(args.db)
    try:
        if args.vkey:
            text = node_note_key(ledger).vkey() + "\n"
        else:
            if not args.node_key:
                raise CommandError("signing a checkpoint needs --node-key (the node's key file); --vkey needs none")
            note = sign_ledger_checkpoint(ledger, _key(args.node_key))
            text = note.decode()
            if args.old is not None:  # the body of a tlog-witness add-checkpoint request
                from coopchain.chain.witness import add_checkpoint_request

                size = ledger.history().size
                if not 0 <= args.old <= size:
                    raise CommandError(f"--old {args.old}: a witness's size lies in 0 .. {size}")
                proof = ledger.history().consistency_proof(args.old, size) if args.old else []
                text = add_checkpoint_request(args.old, proof, note).decode()
    except ChainError as e:
        raise CommandError(str(e)) from e
    finally:
        ledger.close()
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as e:
            raise CommandError(f"--output {args.output}: cannot write it ({e.strerror})") from e
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_chain_publish_checkpoint(args) -> int:
    """`coopchain chain publish-checkpoint`: sign, collect cosignatures over HTTP, store (service.checkpoints);
    with --every N, keep running and publish each time the ledger has grown by N blocks."""
    from coopchain.app.witness_commands import _post
    from coopchain.chain.errors import ChainError
    from coopchain.service.checkpoints import CheckpointStore

    if args.every is not None and not (1 <= args.every <= 10**9 and 0.05 <= args.poll <= 86_400):
        raise CommandError("--every counts blocks (1 or more) and --poll seconds (0.05 .. 86400)")
    witnesses = [(url, _post(url)) for url in args.witness]
    ledger = _ledger(args.db, args.node_key)
    store = None
    try:
        store = CheckpointStore(args.db)
        if args.every is None:
            return _publish_once(ledger, store, witnesses, args)
        return _publish_every(ledger, store, witnesses, args)
    except ChainError as e:
        raise CommandError(str(e)) from e
    finally:
        if store is not None:
            store.close()
        ledger.close()


def _publish_once(ledger, store, witnesses, args) -> int:
    from coopchain.service.checkpoints import publish

    from coopchain.app.witness_commands import report_publication

    done = publish(ledger, witnesses, store)
    report_publication(done, args.output)
    cp = done.checkpoint
    if done.stored:
        print(f"published: checkpoint of {_count(cp.size, 'block')}, root {cp.root.hex()}, cosigned by {len(done.cosigned_by)} of "
              f"{len(witnesses)} witness{'es' if len(witnesses) != 1 else ''} ({', '.join(done.cosigned_by)}); GET /checkpoint serves it", flush=True)
    else:
        print(f"not published: no witness cosigned the checkpoint of {_count(cp.size, 'block')}", flush=True)
    return EXIT_OK if done.stored and not done.refused else EXIT_INVALID


def _publish_every(ledger, store, witnesses, args) -> int:
    """Poll the head every --poll seconds; publish when it is --every blocks past the last publication
    (a failed round is retried at the next poll).  Runs until interrupted (SIGINT or SIGTERM: exit 0)."""
    import signal
    import time

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    latest = store.latest()
    published_size = latest.size if latest else 0
    try:
        while not stop:
            size = ledger.height() + 1
            if size - published_size >= args.every:
                _publish_once(ledger, store, witnesses, args)
                latest = store.latest()
                published_size = latest.size if latest else published_size  # stored with at least one cosignature
            deadline = time.monotonic() + args.poll
            while not stop and time.monotonic() < deadline:
                time.sleep(min(0.2, args.poll))
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _check_checkpoint(args) -> int:
    """`coopchain chain checkpoint --check COSIGNED [--policy FILE]`: the stored ledger still holds a
    checkpoint its node signed (and, with a policy, that its witnesses cosigned)."""
    from coopchain.chain.errors import ChainError
    from coopchain.chain.store import open_store

    args.checkpoint = args.check
    pinned = _pinned_checkpoint(args)
    try:
        store = open_store(args.db)
    except ChainError as e:
        raise CommandError(str(e)) from e
    try:
        if store.height() is None:
            raise CommandError(f"{args.db or 'the ledger'}: holds no genesis block")
        unheld, cp, who = _checkpoint_verdict(store, *pinned)
        count = store.height() + 1
    except ChainError as e:
        raise CommandError(str(e)) from e
    finally:
        store.close()
    if unheld:
        print(f"invalid: {unheld}")
        return EXIT_INVALID
    print(f"holds: the ledger's blocks 0 .. {cp.size - 1} are the checkpoint's (cosigned by {who}); it now holds {_count(count, 'block')}")
    return EXIT_OK


# Demo difficulties: a block takes a second or a few on this machine's one core
# (SHA-256d about 1.1 M tries/s, RPCA16 about 50 k/s in Python; bench/bench_seals.py).
DEMO_WORK = {"pow": 1_500_000, "rpca16": 100_000}


def demo_seal_params(kind: str, key_dir: Path) -> tuple[dict, list]:
    """Genesis parameters of the demo chain for a seal kind, and the extra keys the node seals with."""
    if kind == "signed":
        return {}, []
    if kind in DEMO_WORK:
        return {"target": f"{2**256 // DEMO_WORK[kind]:064x}", "interval_ms": 2000, "window": 10}, []
    if kind == "pos":
        staker = _demo_key(key_dir / "staker.key")
        # kernel < target × coins × seconds: with 1,000 coins about one second in five meets it at first.
        return {"stakes": {staker.public_key.to_text(): 1000}, "target": f"{2**256 // 5000:064x}"}, [staker]
    members = [_demo_key(key_dir / f"member-{i}.key") for i in (1, 2, 3)]
    return {"members": [m.public_key.to_text() for m in members], "k": 2}, members


def _demo_key(path: Path):
    from coopchain.chain.keys import PrivateKey

    if not path.exists():
        PrivateKey.generate("ed25519").save(path)
    return PrivateKey.load(path)


def demo_ledger(db: str | None, key_dir: Path, seal: str):
    """The demo's ledger, opened (or created with fresh keys) before any solving, so that a bad
    --db or --keys is reported at once; returns (ledger, manager key)."""
    from coopchain.chain.errors import ChainError
    from coopchain.chain.store import database_url, open_store
    from coopchain.service.wiring import create_ledger, open_ledger

    url = database_url(db)
    try:
        key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        node, manager = _demo_key(key_dir / "node.key"), _demo_key(key_dir / "manager.key")
        params, others = demo_seal_params(seal, key_dir)
        store = open_store(url, create=True)
        fresh = store.height() is None
        store.close()
        ledger = create_ledger(url, node, DEMO_CHAIN_ID, seal, params, others) if fresh else open_ledger(url, node, others)
    except (ChainError, OSError) as e:
        raise CommandError(f"the demo ledger ({url}, keys in {key_dir}/): {e}") from e
    if ledger.config.seal != seal:
        ledger.close()
        raise CommandError(f"the ledger at {url} was created with the {ledger.config.seal!r} seal; "
                           f"run with --seal {ledger.config.seal}, or give --db a new file for {seal!r}")
    return ledger, manager


def demo_commit(ledger, manager, url: str, key_dir: Path, chosen, bundle_path: Path) -> str:
    """Commit the chosen allocation through the allocation contract (registering the demo's cooperative,
    with the node's key as the admin, and its problem when needed), verify the chain, write the commit's
    audit bundle; returns the commit's transaction hash (hex, whole: `chain bundle` takes it back).
    A round already committed is said plainly, and its current commit is bundled."""
    import time

    from coopchain.chain.block import block_hash
    from coopchain.chain.errors import ChainError
    from coopchain.chain.verify import verify_chain
    from coopchain.service import commit as commits
    from coopchain.service import cooperatives
    from coopchain.service.bundles import audit_bundle
    from coopchain.service.wiring import contracts

    seal = ledger.config.seal
    genesis_hash = block_hash(ledger.genesis).hex()
    from coopchain.models.problem_text import problem_identity

    (coop, round_), me = problem_identity(commits.problem_text(chosen.solution)), manager.public_key.to_text()
    try:
        found = cooperatives.cooperative(ledger, coop)
        if found is None:
            done = cooperatives.create_cooperative(ledger, ledger.node_key, coop, [me])
            if not done.receipt.applied:
                raise CommandError(f"cooperative {coop!r} could not be registered: {done.receipt.message}", EXIT_INVALID)
        elif me not in found.managers:
            raise CommandError(f"the demo's manager key ({me}) does not manage {coop!r} on this ledger; use the keys that made it (--keys)", EXIT_INVALID)
        start = time.perf_counter()
        try:
            result = commits.commit(ledger, manager, chosen)
        except commits.CommitError as e:
            if e.field != "round":
                raise CommandError(str(e), EXIT_INVALID) from e
            tx_hash = commits.committed_round(ledger, coop, round_)["current"]
            print(f"\nRound {round_!r} of {coop!r} is already committed on the ledger at {url} (transaction {tx_hash}): nothing new was committed.")
            print("  `coopchain history` lists its commits; `coopchain commit FILE --supersedes TX --reason \"why\"` amends it.")
            block = None
        else:
            sealed = time.perf_counter() - start
            receipt = result.commit.receipt
            if not receipt.applied:
                raise CommandError(f"the allocation contract rejected the commit ({receipt.code}): {receipt.message}", EXIT_INVALID)
            tx_hash, block = result.commit.transaction, result.commit.height
        report = verify_chain(ledger.store, contracts=contracts())
        bundle = audit_bundle(ledger, bytes.fromhex(tx_hash))
    except ChainError as e:
        raise CommandError(str(e), EXIT_INVALID) from e
    finally:
        ledger.close()
    try:
        bundle_path.write_text(json.dumps(bundle, indent=1) + "\n")
    except OSError as e:
        raise CommandError(f"committed, but the bundle could not be written to {bundle_path}: {e.strerror}") from e
    if block is not None:
        print(f"\nCommitted through the allocation contract to the ledger at {url}: block {block}, sealed ({seal}) in {sealed:.2f} s")
        print(f"  receipt     applied: {receipt.message}")
    print(f"  transaction {tx_hash}")
    print(f"  genesis     {genesis_hash}  (an auditor pins it: coopchain verify --genesis)")
    print(f"chain verify: valid ({_count(report.blocks, 'block')}, {_count(report.transactions, 'transaction')}, every {seal} seal checked, every receipt re-derived)")
    print(f"Audit bundle written to {bundle_path}: `coopchain verify {bundle_path}` checks it offline.")
    return tx_hash
