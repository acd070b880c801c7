"""A canonical problem text read fast: columns straight from the text, proven canonical without rewriting it.

The certificate verifier and the allocation contract must know that a problem text is
exactly the canonical (RFC 8785) text of what it means (docs/certificate.md).  Reading it
as generic JSON (one dict per enterprise), checking it and writing its canonical text
again to compare took about 4.5 s of CPU at n = 100,000.  Here the text is read after the
canonical writer's own enterprise template (`models.problem_rules.enterprise_template`):
the keys are literal, in canonical order, and each value is a slot.  When every enterprise
has one shape, the slots are found from the quotes of the UTF-8 bytes and the template's
pieces compared where they must be (`_read_uniform`, no Python object per number); else one
compiled regular expression captures the values column by column.  A text is accepted only when

- the part around the enterprises is, character for character, what the canonical writer
  writes for the values it holds (`canonical_head`);
- the enterprises' objects tile the array exactly, each matching the template;
- every number token is the ECMAScript form of the double it denotes (proven in bulk by
  `models.number_text.parse_shortest`, the few it leaves checked exactly), and every string
  RFC 8785's form of its text;
- the values have the types and signs `read_canonical` requires.

Together these say that the text equals `canonical_problem_text` of what was read, without
writing it.  Anything else gives None, and the caller reads the text the generic way
(`models.certificate_verify.read_problem`), which says precisely what is wrong: this path
never words an error.  numpy and the standard library only (the certificate leaf).
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading

import numpy as np

from coopchain.models.problem_rules import (
    MAX_NAMES,
    CanonicalProblem,
    Columns,
    ShapeError,
    _string,
    canonical_head,
    enterprise_template,
    read_head,
)
from coopchain.models.number_text import parse_shortest
from coopchain.models.strict_json import es_number, loads, loads_fast

_ENTERPRISES = ',"enterprises":['
# From this many number tokens the literal pieces are compared in a helper thread beside the numbers' proof
# (number_text threads its own blocks from the same size): below it a thread's start is not worth it.
_THREADED_TOKENS = 1 << 17
_THREADED_BYTES = 1 << 21  # the same for the scan of the enterprises' bytes for quotes
_REGEX_NAME_CHARS = 8192  # past this many characters of names, the regex path costs more than it saves
_AFTER = '],"indicators":{'
# A number token: any run of number characters (number_text and es_number decide the form).
_NUM = r"([-+.0-9eE]+)"
# A string token: no raw quote or control character; an escape is checked against RFC 8785's form later.
_STR = r'("[^"\\\x00-\x1f]*(?:\\[^\x00-\x1f][^"\\\x00-\x1f]*)*")'  # unrolled: no alternation per character


@functools.lru_cache(maxsize=16)
def _enterprise_pattern(indicators: tuple, resources: tuple):
    """One canonical enterprise object (and its trailing comma), each value a group; the skeleton's length."""
    q = lambda name: re.escape(_string(name))  # noqa: E731
    benefit = ",".join(f"{q(k)}:{_NUM}" for k in indicators)
    use = ",".join(f"{q(r)}:{_NUM}" for r in resources)
    pattern = re.compile(
        r'\{"alpha":' + _NUM + r',"benefit":\{' + benefit + r'\},"cap":\{([^{}]*)\},"g":' + _NUM + ',"id":' + _STR
        + ',"max":' + _NUM + ',"min":' + _NUM + ',(?:"name":' + _STR + ',)?"reservation":' + _NUM + ',"u0":' + _NUM
        + r',"use":\{' + use + r'\}\}(,(?=\{)|\Z)'
    )
    # The characters of one enterprise that are not captured (no name: a name adds '"name":' and ',').
    fields = 1 + len(indicators) + len(resources) + 9 + len(resources)
    skeleton = len(enterprise_template(list(indicators), list(resources), ()).format(*[""] * fields))
    return pattern, skeleton


@functools.lru_cache(maxsize=16)
def _cap_pattern(resources: tuple):
    """The cap object of an enterprise that caps every resource, the bodies joined by NUL."""
    body = ",".join(f"{re.escape(_string(r))}:{_NUM}" for r in resources)
    return re.compile(body + r"(?:\x00|\Z)"), len(",".join(f"{_string(r)}:" for r in resources))


def _numbers(tokens) -> np.ndarray | None:
    """The doubles of number tokens, or None unless each token is the canonical form of its double."""
    tokens = list(tokens)
    if not tokens:
        return np.zeros(0)
    raw = ",".join(tokens).encode("utf-8", "surrogatepass")
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    ends = np.cumsum(lengths + 1) - 1
    return _proven_numbers(raw, ends - lengths, ends)


def _proven_numbers(raw: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """The doubles of the number tokens raw[starts:ends], or None unless each is the canonical form of its double.

    `number_text.parse_shortest` proves almost every token in bulk; the few it leaves (near a tie, unusual
    forms, non-canonical spellings) are checked exactly: float() is correctly rounded, es_number the RFC 8785 form.
    """
    values, proven = parse_shortest(raw, starts, ends)
    for i in np.flatnonzero(~proven).tolist():
        token = raw[starts[i]:ends[i]].decode("ascii", "replace")
        try:
            x = float(token)
        except ValueError:
            return None
        if not math.isfinite(x) or es_number(x) != token:
            return None
        values[i] = x
    return values


def _strings(tokens) -> list | None:
    """The texts of string tokens (quotes included), or None unless each is RFC 8785's form of its text."""
    if "\\" not in "".join(tokens):
        return [t[1:-1] for t in tokens]  # no escape: the pattern left out raw quotes and control characters
    out = []
    for t in tokens:
        s = json.loads(t)
        if _string(s) != t:
            return None
        out.append(s)
    return out


def read_canonical_text(text: str, data: bytes | None = None) -> CanonicalProblem | None:
    """The columns of a canonical problem text, or None when this fast path cannot vouch for it (read it generically).
    ``data``: the text's UTF-8 bytes, when the caller has them already (the verifier hashed them)."""
    try:
        return _read(text, data)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, ShapeError):
        return None


def _read(text: str, data: bytes | None = None) -> CanonicalProblem | None:
    at = text.find(_ENTERPRISES)
    if at < 0:
        return None
    start = at + len(_ENTERPRISES)
    # From the end: the marker is in the tail (a canonical text holds it once: '"' inside a string is escaped), and
    # searching 36 MiB of enterprises for it took ~20 ms.  Another occurrence can only make the checks below fail.
    end = text.rfind(_AFTER, start)
    if end < 0 or end == start:
        return None
    head = read_head(loads(text[:start] + "0" + text[end:], what="the problem"))  # strict: a duplicated key is refused
    if len(head.indicators) > MAX_NAMES or len(head.resources) > MAX_NAMES:
        # The generic reader refuses it (too_large) and says so; here, a regex of one group per name would
        # cost seconds to compile at 100,000 names (review R-3), and two readers must give one verdict.
        return None
    before, after = canonical_head(head)
    if not (len(before) == start and text.startswith(before) and text.endswith(after) and len(after) == len(text) - end):
        return None
    fast = _read_uniform(text, start, data, head)
    if fast is not None:
        return fast or None
    if sum(map(len, head.indicators)) + 2 * sum(map(len, head.resources)) > _REGEX_NAME_CHARS:
        # The patterns below spell every name (resources twice: use and cap); compiling them costs ~0.3 s of
        # CPU per MB of names, 20-50x the generic reader on the same bytes (review R3-2): that reader decides.
        return None
    span = text[start:end]
    pattern, skeleton = _enterprise_pattern(head.indicators, head.resources)
    found = pattern.findall(span)
    if not found:
        return None
    K, R, n = len(head.indicators), len(head.resources), len(found)
    cols = list(zip(*found))
    names_given = sum(1 for t in cols[6 + K] if t)
    # Each match holds its trailing comma, so no character lies between matches when the lengths add up.
    if n * skeleton + len('"name":,') * names_given + sum(sum(map(len, col)) for col in cols) != len(span):
        return None
    alpha = _numbers(cols[0])
    benefit = [_numbers(cols[1 + k]) for k in range(K)]
    bodies = cols[1 + K]
    g, ids, vmax, vmin = _numbers(cols[2 + K]), _strings(cols[3 + K]), _numbers(cols[4 + K]), _numbers(cols[5 + K])
    names = _strings([t for t in cols[6 + K] if t]) if names_given else []
    reservation, u0 = _numbers(cols[7 + K]), _numbers(cols[8 + K])
    use = [_numbers(cols[9 + K + r]) for r in range(R)]
    parts = [alpha, g, vmax, vmin, reservation, u0, *benefit, *use]
    if any(p is None for p in parts) or ids is None or names is None or any(len(i) == 0 for i in ids):
        return None
    cap = _caps(bodies, head.resources, n)
    if cap is None:
        return None
    return _problem(head, ids, cols[6 + K], names, alpha, benefit, g, vmax, vmin, reservation, u0, use, cap)


def _problem(head, ids, name_tokens, names, alpha, benefit, g, vmax, vmin, reservation, u0, use, cap):
    """The CanonicalProblem of proven columns (``name_tokens``: per enterprise, whether it has a name; ``names``:
    those names in order), or None when a sign is not what `read_canonical` requires."""
    n, K, R = len(ids), len(head.indicators), len(head.resources)
    benefit_m = np.column_stack(benefit) if K else np.zeros((n, 0))
    use_m = np.column_stack(use) if R else np.zeros((n, 0))
    nonneg = [alpha, g, vmax, vmin, reservation, benefit_m, use_m, np.where(np.isinf(cap), 0.0, cap)]
    if any((a < 0).any() for a in nonneg):
        return None  # read_canonical says which, and where
    name_iter = iter(names)
    columns = Columns(
        ids=tuple(ids), indicators=head.indicators, resources=head.resources,
        weights=head.weights, resource_cap=head.resource_cap, resource_weight=head.resource_weight,
        demand_min=float(head.demand[0]), demand_max=float(head.demand[1]),
        volume_min=vmin, volume_max=vmax, u0=u0, g=g, reservation=reservation, alpha=alpha,
        benefit=benefit_m, use=use_m, cap=cap, broken=np.zeros(n, dtype=bool),
    )
    named = tuple(next(name_iter) if t else None for t in name_tokens) if names else (None,) * n
    return CanonicalProblem(head.cooperative, head.round, named, columns)


def _caps(bodies: tuple, resources: tuple, n: int) -> np.ndarray | None:
    """The enterprises' own caps (inf where none), from the bodies of their cap objects."""
    cap = np.full((n, len(resources)), math.inf)
    if not any(bodies):
        return cap
    if all(bodies) and resources:
        # The usual case: every enterprise caps every resource.
        pattern, skeleton = _cap_pattern(resources)
        joined = "\x00".join(bodies)
        found = pattern.findall(joined)
        if len(found) == n and n * skeleton + (n - 1) + sum(sum(map(len, col)) for col in zip(*found)) == len(joined):
            for r, col in enumerate(zip(*found)):
                values = _numbers(col)
                if values is None:
                    return None
                cap[:, r] = values
            return cap
    index = {_string(r): i for i, r in enumerate(resources)}
    rows, where, tokens = [], [], []
    for j, body in enumerate(bodies):
        if not body:
            continue
        last = -1
        for item in body.split(","):
            key, _, token = item.rpartition(":")
            i = index[key]  # an unknown key (or a name holding ',' or ':') is for the generic reader
            if i <= last:
                return None
            last = i
            rows.append(j)
            where.append(i)
            tokens.append(token)
    values = _numbers(tokens)
    if values is None:
        return None
    cap[rows, where] = values
    return cap


def problem_identity(text: str) -> tuple:
    """(cooperative, round) a problem text names, read from its head alone (the text around the enterprises),
    or from the whole text when it has no canonical head.  Not a proof of anything: the certificate leaf
    proves the text (`models.certificate_verify.proven_problem`); this tells a client where to commit."""
    at = text.find(_ENTERPRISES)
    end = text.find(_AFTER, at + 1) if at >= 0 else -1
    # loads_fast: nesting bounded by a count of brackets, never by the stack (a contract's verdict rests on it).
    try:
        doc = loads_fast(text[: at + len(_ENTERPRISES)] + text[end:]) if at >= 0 and end >= 0 else loads_fast(text)
    except ValueError:
        doc = loads_fast(text, what="the problem")  # raises StrictJsonError (a ValueError): not JSON at all
    if not isinstance(doc, dict):
        return None, None
    return doc.get("cooperative"), doc.get("round")


# --- the uniform fast path: every enterprise of one shape, proven over the bytes --------------------------
#
# Most problem texts give every enterprise the same members (all of them cap every resource, or none does;
# all have a name, or none).  Then the text of the enterprises is one template repeated, its value slots
# filled: the template's literal pieces hold every key, so each slot lies between two quotes whose indices
# the template fixes.  The quotes are found in one numpy pass; the slots' bounds follow from them; each
# literal piece is compared byte for byte where it must be (length and bytes); the number tokens are proven
# by `number_text.parse_shortest` (the few it leaves, exactly); the string tokens hold no quote, backslash or
# control character, so each is RFC 8785's form of its text.  The pieces and slots then tile the text, which
# is therefore `canonical_problem_text` of what was read.  Anything else (a backslash, mixed shapes) is read
# by the regular expression above.


@functools.lru_cache(maxsize=16)
def _layout(indicators: tuple, resources: tuple, caps: tuple, named: bool):
    """One enterprise's literal pieces (bytes; the first opens it, the last closes it) and slots (field, is_string)."""
    K, R = len(indicators), len(resources)
    fields = 1 + K + R + 9 + R
    at = 1 + K + R
    marks = [f"\x00{i}\x00" for i in range(fields)]
    marks[at + 4] = f'"name":\x00{at + 4}\x00,' if named else ""
    rendered = enterprise_template(list(indicators), list(resources), caps).format(*marks)
    parts = re.split("\x00([0-9]+)\x00", rendered)
    pieces = [p.encode("utf-8") for p in parts[0::2]]
    slots = [(int(f), int(f) in (at + 1, at + 4)) for f in parts[1::2]]
    if any(b"\x00" in p or p.count(b'"') == 0 for p in pieces[1:-1]) or b'"' not in pieces[0] or b'"' in pieces[-1]:
        return None  # every inner piece holds a key (so a quote); a name with an odd spelling is for the regex
    return pieces, slots


def _first_enterprise(span: str):
    """The members of the first enterprise object, read from a bounded prefix (its shape only: nothing is proven here)."""
    cut = span.find("}},{", 0, 1 << 16)
    head = span[: cut + 2] if cut >= 0 else span[: 1 << 16]
    if head.count("[") + head.count("{") > 64:  # bounded nesting: never the interpreter's stack (review R-6)
        return None
    try:
        first, _ = json.JSONDecoder().raw_decode(head)
    except ValueError:
        return None
    return first if isinstance(first, dict) and isinstance(first.get("cap"), dict) else None


def _read_uniform(text: str, start: int, data: bytes | None, head) -> CanonicalProblem | bool | None:
    """The problem when every enterprise has one shape and the text is canonical; False when such a text is
    proven not canonical (a number or string not in canonical form); None when this path does not apply.
    ``start``: where the enterprises' objects begin in ``text``; ``data``: its UTF-8 bytes, if at hand."""
    first = _first_enterprise(text[start:start + (1 << 16)])
    if first is None:
        return None
    resources, indicators = head.resources, head.indicators
    caps = tuple(r for r in resources if r in first["cap"])
    layout = _layout(indicators, resources, caps, "name" in first)
    if layout is None:
        return None
    pieces, slots = layout
    if data is None:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            return None
    # The same two markers as in the text (ASCII: a match never starts inside a character's bytes).
    base = data.find(_ENTERPRISES.encode()) + len(_ENTERPRISES)
    size = data.rfind(_AFTER.encode(), base) - base  # (from the end, as in _read)
    if data.find(b"\\", base, base + size) >= 0:
        return None
    B = np.frombuffer(data, dtype=np.uint8, count=size, offset=base)
    clean, Q = _quotes(B)
    if not clean:
        return None
    per = sum(p.count(b'"') for p in pieces) + 2 * sum(1 for _, s in slots if s)
    n = len(Q) // per
    if n == 0 or n * per != len(Q):
        return None
    Qm = Q.reshape(n, per)
    T = len(slots)
    starts = np.empty((T, n), dtype=np.int64)
    ends = np.empty((T, n), dtype=np.int64)
    seen = 0  # quotes of the enterprise before the current point
    for i, (_, is_string) in enumerate(slots):
        seen += pieces[i].count(b'"')
        if is_string:
            starts[i], ends[i] = Qm[:, seen], Qm[:, seen + 1] + 1
            seen += 2
            continue
        before = pieces[i]
        starts[i] = Qm[:, seen - 1] + (len(before) - before.rindex(b'"'))
        after = pieces[i + 1]
        if b'"' in after:
            ends[i] = Qm[:, seen] - after.index(b'"')
        else:  # the last slot: the next quote is the next enterprise's first
            junction = after + b"," + pieces[0]
            ends[i, : n - 1] = Qm[1:, 0] - junction.index(b'"')
            ends[i, n - 1] = size - len(after)
    # The literal pieces, where they must be: between the slots, and across enterprises.
    checks = [(pieces[0], np.zeros(1, dtype=np.int64), starts[0, :1]), (pieces[-1], ends[-1, -1:], np.array([size]))]
    checks += [(pieces[i], ends[i - 1], starts[i]) for i in range(1, T)]
    if n > 1:
        checks.append((pieces[-1] + b"," + pieces[0], ends[-1, :-1], starts[0, 1:]))
    words = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))  # the 8 bytes from each position
    for literal, a, b in checks:  # (the text after the enterprises is longer than 8 bytes: every read is inside it)
        if not (b - a == len(literal)).all():
            return None
    numbers = [i for i, (_, s) in enumerate(slots) if not s]
    # The literal pieces and the numbers are independent proofs over the same bytes, both numpy passes that
    # release the GIL: the pieces are compared in a helper thread while the numbers are proven here.  The
    # pieces' verdict is read first, as when they were compared first: the result never depends on timing.
    literals = _Helper(_literals_at, words, [literal for literal, _, _ in checks], [a + base for _, a, _ in checks],
                       threaded=n * len(numbers) >= _THREADED_TOKENS)
    try:
        # Enterprise by enterprise, in text order: the proof's blocks then read neighbouring bytes (a third less
        # time than slot by slot, whose blocks each touch 16,384 cache lines across the text).
        values = _proven_numbers(data, starts[numbers].T.ravel() + base, ends[numbers].T.ravel() + base)  # an empty token: refused there
    except BaseException:
        if not literals.result():  # (raises the helper's own error first, as the sequential order did)
            return None
        raise
    if not literals.result():
        return None
    if values is None:
        return False
    values = np.ascontiguousarray(values.reshape(n, len(numbers)).T)
    column = {slots[i][0]: values[j] for j, i in enumerate(numbers)}
    texts = {}
    K, R = len(indicators), len(resources)
    at = 1 + K + R
    for i, (field, is_string) in enumerate(slots):
        if is_string:
            if field == at + 1 and not (ends[i] - starts[i] > 2).all():
                return None  # an empty id: the generic reader says so
            texts[field] = _string_tokens(data, starts[i] + base, ends[i] + base)
    ids = texts[at + 1]
    names = texts.get(at + 4, [])
    cap = np.full((n, R), math.inf)
    for r, name in enumerate(resources):
        if name in caps:
            cap[:, r] = column[1 + K + r]
    return _problem(
        head, ids, [bool(names)] * n, names, column[0], [column[1 + k] for k in range(K)], column[at], column[at + 2],
        column[at + 3], column[at + 5], column[at + 6], [column[at + 7 + r] for r in range(R)], cap,
    )


class _Helper:
    """`fn(*args)` in a thread of its own when `threaded` (else at once, here); `result()` its value, or its error."""

    def __init__(self, fn, *args, threaded: bool):
        self._out: list = []
        self._thread = None
        if threaded:
            self._thread = threading.Thread(target=self._run, args=(fn, args), name="problem_text")
            self._thread.start()
        else:
            self._run(fn, args)

    def _run(self, fn, args) -> None:
        try:
            self._out.append((True, fn(*args)))
        except BaseException as e:  # raised in the caller's thread by result()
            self._out.append((False, e))

    def result(self):
        if self._thread is not None:
            self._thread.join()
        ok, value = self._out[0]
        if not ok:
            raise value
        return value


def _quotes_in(part: np.ndarray) -> tuple[bool, np.ndarray]:
    return bool(part.min() >= 0x20), np.flatnonzero(part == 0x22)


def _quotes(B: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether the bytes B hold no control character, and the positions of their quotes: two passes over the
    enterprises' 36 MiB at n = 100,000, the second half's in a helper thread (numpy releases the GIL)."""
    half = len(B) // 2
    if len(B) < _THREADED_BYTES:
        return _quotes_in(B)
    second = _Helper(_quotes_in, B[half:], threaded=True)
    clean, Q = _quotes_in(B[:half])
    clean_second, Q_second = second.result()
    return clean and clean_second, np.concatenate([Q, Q_second + half])


def _literals_at(words: np.ndarray, literals: list[bytes], places: list[np.ndarray]) -> bool:
    """Whether each literals[i] is at every text position in places[i], compared 8 bytes at a time.

    The pieces that recur once per enterprise (as many places as the longest list) are compared
    enterprise by enterprise, in text order, a block of enterprises at a time: piece by piece over the
    whole text, every 8-byte read was a cache miss (0.28 s of 0.66 at n = 100,000).  A block holds at
    most ~2^20 reads whatever the pieces' lengths (no index matrix as large as the text)."""
    count = max(len(at) for at in places)
    recurring = [i for i, at in enumerate(places) if len(at) == count and count > 1]
    for i, at in enumerate(places):
        if i not in recurring and not _literal_at(words, at, literals[i]):
            return False
    if not recurring:
        return True
    piece, offset, expected, mask = [], [], [], []
    for column, i in enumerate(recurring):
        literal = literals[i]
        for start in range(0, len(literal), 8):
            chunk = literal[start:start + 8]
            piece.append(column)
            offset.append(start)
            expected.append(int.from_bytes(chunk, "little"))
            mask.append((1 << (8 * len(chunk))) - 1)
    piece, offset = np.array(piece, dtype=np.int64), np.array(offset, dtype=np.int64)
    expected, mask = np.array(expected, dtype=np.uint64), np.array(mask, dtype=np.uint64)
    at = np.stack([places[i] for i in recurring], axis=1)  # (enterprises, pieces): rows in text order
    step = max(1, (1 << 20) // len(piece))
    for row in range(0, count, step):
        reads = at[row:row + step, piece] + offset
        if not ((words[reads] & mask) == expected).all():
            return False
    return True


def _literal_at(words: np.ndarray, at: np.ndarray, literal: bytes) -> bool:
    """Whether `literal` is at every text position in `at`, compared 8 bytes at a time."""
    for offset in range(0, len(literal), 8):
        chunk = literal[offset:offset + 8]
        expected = int.from_bytes(chunk, "little")
        mask = np.uint64((1 << (8 * len(chunk))) - 1)
        if not ((words[at + offset] & mask) == np.uint64(expected)).all():
            return False
    return True


def _string_tokens(raw: bytes, starts: np.ndarray, ends: np.ndarray) -> list[str]:
    """The texts of string tokens raw[starts:ends] (quotes included) that hold no quote, backslash or control character."""
    lengths = ends - starts
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    joined = np.frombuffer(raw, dtype=np.uint8)[offsets + np.arange(int(lengths.sum()))].tobytes().decode("utf-8")
    return joined[1:-1].split('""')  # '"a""b"' -> a, b: no quote inside any of them
