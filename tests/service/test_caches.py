"""service.caches: the least recently used answer goes first; one keeper per ledger, dropped with it."""

import gc

from coopchain.service.caches import PerLedger, Recent


def test_recent_drops_the_least_recently_used():
    kept = Recent(2)
    assert kept.put("a", 1) == 1
    kept.put("b", 2)
    assert kept.get("a") == 1  # "a" is now the more recent of the two
    kept.put("c", 3)
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (1, None, 3)


def test_recent_answers_none_for_a_key_it_does_not_hold():
    assert Recent(4).get(("block", 7)) is None


class _Ledger:  # any object that can be weakly referenced stands for a ledger here
    pass


def test_per_ledger_makes_one_keeper_per_ledger_and_forgets_a_dropped_ledger():
    made = []
    keeper = PerLedger(lambda: made.append(object()) or made[-1])
    first, second = _Ledger(), _Ledger()
    assert keeper(first) is keeper(first) is made[0]
    assert keeper(second) is made[1] and len(made) == 2
    del first
    gc.collect()
    assert len(keeper.objects) == 1
