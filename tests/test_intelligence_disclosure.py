"""Disclosure control as properties: every published cell passes every rule, and no contributor, with
its own values and everything published over every period, narrows another's value to within p%.

The attacker here is written apart from the library's audit: one plain linear programme per
attacker, cell and side over every cell of the table (published ones fixed), no screening, no batching.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from roughtrace.domain.disclosure import (
    DisclosureRefused,
    Rules,
    audit,
    breaches,
    intervals,
    protect,
    require_safe,
    rule_failures,
    two_way,
)

RULES = Rules()


@st.composite
def tables(draw):
    """A small market: 3-9 contributors, 2-4 segments, 2-3 periods, two magnitudes, sparse."""
    contributors = draw(st.integers(3, 9))
    rows, columns = draw(st.integers(2, 4)), draw(st.integers(2, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.sampled_from([0.3, 0.6, 0.9]))
    rng = np.random.default_rng(seed)
    present = rng.random((contributors, rows, columns)) < density
    rough = np.round(rng.gamma(1.0, 50.0, (contributors, rows, columns)) * 1000) * present
    polished = np.round(rough * rng.uniform(0.2, 0.6, rough.shape))
    return two_way(np.stack([rough, polished]), [f"s{i}" for i in range(rows)], [f"p{j}" for j in range(columns)],
                   ("rough", "polished"), [f"C{c}" for c in range(contributors)])


def attacker_interval(table, hidden, magnitude, own, cell):
    """Lowest and highest total of `cell` a contributor knowing `own` derives (every cell a variable)."""
    totals = table.totals[magnitude]
    m = len(table.cells)
    equations = np.zeros((len(table.relations), m))
    for row, (whole, parts) in enumerate(table.relations):
        equations[row, whole] = 1.0
        equations[row, list(parts)] -= 1.0
    bounds = [(own[j], None) if hidden[j] else (totals[j], totals[j]) for j in range(m)]
    objective = np.zeros(m)
    objective[cell] = 1.0
    low = linprog(objective, A_eq=equations, b_eq=np.zeros(len(table.relations)), bounds=bounds, method="highs")
    high = linprog(-objective, A_eq=equations, b_eq=np.zeros(len(table.relations)), bounds=bounds, method="highs")
    assert low.status == 0
    return low.fun, (np.inf if high.status == 3 else -high.fun)


def narrowable(table, hidden, rules):
    """Every (attacker, cell, magnitude) where the attacker bounds another contributor to within p%."""
    p = float(rules.p_percent) / 100
    found = []
    for v in range(table.contributions.shape[0]):
        values = table.contributions[v]
        for a in range(values.shape[0]):
            own = np.where(hidden, values[a], 0.0)
            for j in range(len(table.cells)):
                others = np.delete(values[:, j], a)
                if others.max(initial=0) <= 0:
                    continue
                low, high = attacker_interval(table, hidden, v, own, j) if hidden[j] else (table.totals[v, j],) * 2
                target = others.max()
                slack = 1e-6 * max(target, 1.0)
                if high - values[a, j] < (1 + p) * target - slack:
                    found.append((a, table.cells[j], v, "above"))
                if (others > 0).sum() == 1 and low - values[a, j] > (1 - p) * target + slack:
                    found.append((a, table.cells[j], v, "below"))
    return found


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_every_published_cell_passes_every_rule_and_no_attacker_narrows_a_hidden_one(table):
    try:
        protected = protect(table, RULES)
    except DisclosureRefused:
        return  # nothing is published: nothing disclosed
    published = protected.published()
    for rule, failing in rule_failures(table, RULES).items():
        assert not (failing & published).any(), rule
    assert audit(table, protected, RULES) == []
    assert narrowable(table, protected.suppressed, RULES) == []


@st.composite
def dominated_tables(draw):
    """A small market, its segments often sparse (each contributor in few cells), where one contributor may hold
    nearly all of a segment's or a period's total (its values there multiplied): the cases that send
    the protection out to the margins."""
    contributors = draw(st.integers(3, 15))
    rows, columns = draw(st.integers(2, 4)), draw(st.integers(2, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = np.array(draw(st.lists(st.sampled_from([0.1, 0.3, 0.6, 0.9]), min_size=rows, max_size=rows)))
    present = rng.random((contributors, rows, columns)) < density[None, :, None]  # a segment few buy, often
    rough = np.round(rng.gamma(1.5, 25.0, present.shape)) * 1000 * present
    for _ in range(draw(st.integers(0, 2))):
        who = draw(st.integers(0, contributors - 1))
        factor = draw(st.sampled_from([5.0, 20.0, 200.0]))
        if draw(st.booleans()):
            line = draw(st.integers(0, rows - 1))
            rough[who, line, :] = np.maximum(rough[who, line, :], 1000.0) * factor
        else:
            line = draw(st.integers(0, columns - 1))
            rough[who, :, line] = np.maximum(rough[who, :, line], 1000.0) * factor
    polished = np.round(rough * rng.uniform(0.2, 0.6, rough.shape))
    return two_way(np.stack([rough, polished]), [f"s{i}" for i in range(rows)], [f"p{j}" for j in range(columns)],
                   ("rough", "polished"), [f"C{c}" for c in range(contributors)])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dominated_tables())
def test_the_audit_never_refuses_what_protection_returns(table):
    """Whatever the market, protection hides enough (complements, then margins and totals, up to the
    whole table) for the audit to pass: a report can always be published."""
    require_safe(table, protect(table, RULES), RULES)


def test_protection_goes_past_a_cells_own_relations_when_they_are_all_hidden():
    """A market whose figures (carats by contributor, segment and period) leave every relation of a
    narrowable cell hidden: the published totals further out still pin it, so protection hides
    beyond its own row and column, and the audit passes."""
    held = [(0, 2, 3, 20), (1, 1, 2, 18), (1, 2, 2, 19), (1, 2, 3, 20), (2, 2, 1, 65), (2, 2, 3, 24), (3, 2, 1, 38),
            (4, 0, 0, 15), (4, 2, 1, 17), (4, 2, 2, 13), (5, 1, 0, 28), (5, 2, 3, 28), (6, 2, 0, 13), (6, 2, 2, 34),
            (6, 2, 3, 64), (7, 2, 1, 19), (8, 1, 0, 27), (8, 1, 2, 38), (9, 2, 0, 19), (9, 2, 1, 19), (9, 2, 2, 19),
            (10, 1, 1, 36), (11, 2, 2, 42), (12, 2, 0, 29), (13, 2, 0, 17), (14, 1, 2, 39), (14, 2, 0, 33)]
    values = np.zeros((1, 15, 3, 4))
    who, row, period, amount = (np.array(column) for column in zip(*held, strict=True))
    values[0, who, row, period] = amount * 1000.0
    table = two_way(values, ["sand", "sizes", "smalls"], ["q1", "q2", "q3", "q4"], ("rough",),
                    [f"C{i}" for i in range(15)])
    protected = protect(table, RULES)
    require_safe(table, protected, RULES)
    assert narrowable(table, protected.suppressed, RULES) == []


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.data())
def test_the_audits_intervals_are_the_attackers(table, data):
    hidden = np.asarray(data.draw(st.lists(st.booleans(), min_size=len(table.cells), max_size=len(table.cells))))
    attacker = data.draw(st.integers(0, table.contributions.shape[1] - 1))
    own = np.where(hidden, table.contributions[0, attacker], 0.0)
    low, high = intervals(table, hidden, 0, own)
    for j in np.flatnonzero(hidden):
        expected_low, expected_high = attacker_interval(table, hidden, 0, own, j)
        assert low[j] == pytest.approx(expected_low, rel=1e-7, abs=1e-6)
        assert high[j] == pytest.approx(expected_high, rel=1e-7, abs=1e-6) or (np.isinf(high[j]) and np.isinf(expected_high))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.data())
def test_the_audit_finds_every_narrowing_the_plain_attacker_finds(table, data):
    """Under any pattern, protected or not: the audit's screenings never clear an attacker that the
    plain programme finds able to narrow a value, above or below."""
    m = len(table.cells)
    share = data.draw(st.sampled_from([0.3, 0.6, 0.9]))
    hidden = np.asarray(data.draw(st.lists(st.booleans(), min_size=m, max_size=m))) | (
        np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).random(m) < share)
    names = table.magnitudes
    found = {(b.attacker, b.cell, b.magnitude) for b in breaches(table, hidden, RULES)}
    plain = {(table.contributors[a], cell, names[v]) for a, cell, v, _ in narrowable(table, hidden, RULES)}
    assert plain <= found


@settings(max_examples=40, deadline=None)
@given(tables(), st.data())
def test_changing_one_contributor_changes_only_the_cells_it_contributes_to(table, data):
    who = data.draw(st.integers(0, table.contributions.shape[1] - 1))
    factor = data.draw(st.floats(0.5, 2.0))
    changed = table.contributions.copy()
    changed[:, who, :] = np.round(changed[:, who, :] * factor)
    other = type(table)(table.cells, changed, table.relations, table.magnitudes, table.contributors)
    theirs = (table.contributions[:, who, :] > 0).any(axis=0)
    assert np.array_equal(table.totals[:, ~theirs], other.totals[:, ~theirs])
    before, after = rule_failures(table, RULES), rule_failures(other, RULES)
    for rule in before:
        assert np.array_equal(before[rule][~theirs], after[rule][~theirs])


def test_the_rules_each_hide_what_they_name():
    """One segment, one period: the cell, its segment total, its period total and the grand total are
    one figure, so each verdict below is the rule's alone."""
    def one_cell(*values):
        return two_way(np.array(values, float).reshape(1, len(values), 1, 1), ["s"], ["p"], ("rough",),
                       [f"C{i}" for i in range(len(values))])

    assert rule_failures(one_cell(10, 10, 10, 10), RULES)["min_contributors"].all()
    assert not rule_failures(one_cell(10, 10, 10, 10, 10), RULES)["min_contributors"].any()
    dominated = rule_failures(one_cell(100, 80, 2, 2, 2, 2), RULES)
    assert dominated["dominance"].all() and dominated["p_percent"].all()
    # at the defaults a cell the p% rule hides is dominated too (the rest is under 10% of the largest,
    # so the two largest hold over 90%); with dominance off, the rest at 9% of the largest: p% alone
    p_only = rule_failures(one_cell(100, 100, 3, 3, 3), Rules(dominance_k=Decimal("100")))
    assert p_only["p_percent"].all() and not p_only["dominance"].any() and not p_only["min_contributors"].any()
    assert not rule_failures(one_cell(100, 100, 40, 40, 40), RULES)["dominance"].any()
    assert rule_failures(one_cell(100, 100, 40, 40, 40), Rules(dominance_k=Decimal("60")))["dominance"].all()


def test_a_lone_hidden_cell_is_refused_by_the_audit():
    """Hiding one interior cell only: its row total less the published cells gives it away."""
    rng = np.random.default_rng(3)
    values = np.round(rng.gamma(2.0, 50.0, (1, 8, 2, 2)) * 1000)
    values[0, 2:, 0, 0] = 0  # cell (s0, p0) has two contributors
    table = two_way(values, ["s0", "s1"], ["p0", "p1"], ("rough",), [f"C{i}" for i in range(8)])
    hidden = np.zeros(len(table.cells), bool)
    hidden[table.index(("s0", "p0"))] = True
    from roughtrace.domain.disclosure import Suppression

    with pytest.raises(DisclosureRefused) as refused:
        require_safe(table, Suppression(table, hidden), RULES)
    assert any("('s0', 'p0')" in p.message for p in refused.value.problems)
    assert {p.code for p in refused.value.problems} == {"disclosure_refused"}
    protected = protect(table, RULES)
    assert protected.suppressed.sum() >= 4 and audit(table, protected, RULES) == []
