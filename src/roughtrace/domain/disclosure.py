"""Disclosure control: which market figures may be returned to competitors, and the audit that proves it.

A **magnitude table** holds, for each cell, every contributor's value of one or more magnitudes
(rough carats bought, rough carats with an outcome, polished carats): `contributions[v, c, j]` is
contributor c's value of magnitude v in cell j. Some cells are totals of others (a segment over
every period, a period over every segment, the grand total); `relations` says which. A cell's
published figure for magnitude v is the sum over contributors.

What is published and how each rule applies:

- **Totals** (each magnitude's sum in a cell, and the ratios of two totals such as the market
  yield, polished carats / rough carats) are published only for cells that pass every primary rule
  on every magnitude, and only when the audit finds that no suppressed cell can be narrowed:
  * minimum contributors: at least `min_contributors` contributors with a value above zero;
  * (n, k) dominance: the `dominance_n` largest contributors hold at most `dominance_k` percent of
    the total;
  * p% rule, judged by each contributor who knows its own value: the second largest can estimate
    the largest by the total less its own value, so the rest (total - largest - second) must be at
    least `p_percent` of the largest.
  An empty cell (no contributor) reveals nobody's value and is published as zero.
- **Quartiles** of a figure over contributors (yield, grade and size mix, processing days, where the
  rough went) are order statistics, not sums: they are published only in a cell whose totals are
  published, hence with at least `min_contributors` contributors; they name no one, and the
  magnitudes they are formed from are protected by the totals' rules and audit.

Secondary suppression (`protect`) hides complementary cells until the audit (`audit`) passes: for
each contributor as an attacker, which knows its own value in every cell and sees every published
cell of every period, a linear programme (HiGHS) bounds each suppressed total; from that interval,
less its own value, it must not bound any other contributor's value to within p% (the upper bound
at least (1 + p) times that value; with one other contributor in the cell, the lower bound at most
(1 - p) times it). `require_safe` refuses a table that fails, naming each cell.

**The published record.** Reports go out period after period, and late data changes cells an
earlier report gave out. `with_record` joins a table to its earlier `Release`s: a cell whose
contributions are unchanged since a release is the same unknown (published then, it stays published
at that figure); a cell that changed since is a new unknown beside each version released, and each
release's relations hold among its own versions, so the audit's attacker holds everything published
over every period. Two versions of a cell, one of them published (before or now), make a
`Revision`: the other version is published only when the change between them (each contributor's
change, in size) passes every primary rule, and, hidden, no attacker may bound its figure to within
p% of the largest change by another contributor above it (nor below, when that other is the only
one whose value changed): the one figure less the other would give that change away. `protect`
never hides nor publishes a cell the record fixes, and refuses when nothing left to hide makes the
audit pass.

Pure: numpy and scipy over whole arrays; loops run over cells and attackers, never over rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from ..errors import Problem, RoughtraceError

TOLERANCE = 1e-9
"""Relative slack on float comparisons of carat figures (the linear programme works in float64)."""

RULES = ("min_contributors", "dominance", "p_percent")
"""The primary rules, in the order a suppressed cell names them."""


class DisclosureRefused(RoughtraceError):
    """A report would let a contributor narrow another's value: it is not published."""

    code = "disclosure_refused"


@dataclass(frozen=True)
class Rules:
    """The disclosure rules' parameters (percentages as Decimals, 85 = 85%)."""

    min_contributors: int = 5
    dominance_n: int = 2
    dominance_k: Decimal = Decimal("85")
    p_percent: Decimal = Decimal("10")

    @property
    def p(self) -> float:
        return float(self.p_percent) / 100.0

    @property
    def k(self) -> float:
        return float(self.dominance_k) / 100.0


@dataclass(frozen=True)
class Table:
    """A magnitude table: cells with every contributor's values, and which cells total which."""

    cells: tuple[Any, ...]
    """Each cell's key (e.g. (segment, period), with '*' for a total over that dimension)."""
    contributions: np.ndarray
    """float64, shape (magnitudes, contributors, cells): each contributor's value in each cell."""
    relations: tuple[tuple[int, tuple[int, ...]], ...]
    """(total cell, the cells it sums): one linear equation each."""
    magnitudes: tuple[str, ...] = ()
    contributors: tuple[str, ...] = ()

    @property
    def totals(self) -> np.ndarray:
        """Each magnitude's published figure per cell, shape (magnitudes, cells)."""
        return np.asarray(self.contributions.sum(axis=1))

    def index(self, cell: Any) -> int:
        return self.cells.index(cell)


def two_way(values: np.ndarray, rows: Sequence[Any], columns: Sequence[Any],
            magnitudes: Sequence[str] = (), contributors: Sequence[str] = ()) -> Table:
    """A table of `rows` x `columns` from `values` (magnitudes, contributors, rows, columns), with a
    total per row (key (row, '*')), per column (('*', column)) and the grand total (('*', '*'))."""
    v, c, r, k = values.shape
    row_totals = values.sum(axis=3)
    column_totals = values.sum(axis=2)
    grand = values.sum(axis=(2, 3))
    contributions = np.concatenate([values.reshape(v, c, r * k), row_totals, column_totals, grand[:, :, None]], axis=2)
    cells = ([(row, col) for row in rows for col in columns] + [(row, "*") for row in rows]
             + [("*", col) for col in columns] + [("*", "*")])
    interior = np.arange(r * k).reshape(r, k)
    row_base, column_base, grand_index = r * k, r * k + r, r * k + r + k
    relations = ([(row_base + i, tuple(int(x) for x in interior[i])) for i in range(r)]
                 + [(column_base + j, tuple(int(x) for x in interior[:, j])) for j in range(k)]
                 + [(grand_index, tuple(range(row_base, row_base + r))),
                    (grand_index, tuple(range(column_base, column_base + k)))])
    return Table(tuple(cells), contributions.astype(np.float64), tuple(relations), tuple(magnitudes), tuple(contributors))


def rule_failures(table: Table, rules: Rules) -> dict[str, np.ndarray]:
    """Each primary rule's failing cells (boolean per cell, over every magnitude at once)."""
    values = table.contributions
    ranked = -np.sort(-values, axis=1)  # largest contributor first, per magnitude and cell
    total = values.sum(axis=1)
    count = (values > 0).sum(axis=1)
    empty = count == 0
    slack = TOLERANCE * np.maximum(total, 1.0)
    top_n = ranked[:, :rules.dominance_n, :].sum(axis=1)
    largest = ranked[:, 0, :]
    second = ranked[:, 1, :] if ranked.shape[1] > 1 else np.zeros_like(largest)
    failures = {
        "min_contributors": (count < rules.min_contributors) & ~empty,
        "dominance": (top_n > rules.k * total + slack) & ~empty,
        "p_percent": (total - largest - second < rules.p * largest - slack) & ~empty,
    }
    return {rule: failing.any(axis=0) for rule, failing in failures.items()}


def primary(table: Table, rules: Rules) -> np.ndarray:
    """The cells some primary rule forbids publishing (boolean per cell)."""
    failures = rule_failures(table, rules)
    return np.asarray(np.logical_or.reduce([failures[rule] for rule in RULES]))


@dataclass(frozen=True)
class Breach:
    """One suppressed (or published) cell an attacker can narrow: who, which magnitude, how far."""

    cell: Any
    magnitude: str
    attacker: str
    low: float
    high: float
    """The attacker's feasible interval for the cell's total."""

    def problem(self) -> Problem:
        return Problem("disclosure_refused", f"cell {self.cell} ({self.magnitude}): contributor {self.attacker} could "
                       f"bound the total between {self.low:.3f} and {self.high:.3f}, within the p% rule of another "
                       "contributor's value", column=str(self.cell))


@dataclass(frozen=True)
class Suppression:
    """Which cells are hidden, and why: the primary rules each breaks, or 'complementary'."""

    table: Table
    suppressed: np.ndarray
    reasons: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def published(self) -> np.ndarray:
        return ~self.suppressed

    def reason(self, cell: Any) -> tuple[str, ...]:
        return self.reasons.get(self.table.index(cell), ())


@dataclass(frozen=True)
class Release:
    """A table as an earlier report released it: every contributor's values then, and which cells
    were published (every attacker holds those figures for good)."""

    table: Table
    published: np.ndarray


@dataclass(frozen=True)
class Revision:
    """A version of a cell beside a published version of it: what the change between them is."""

    cell: int
    released: np.ndarray
    """(magnitudes,) the published version's totals."""
    change: np.ndarray
    """(magnitudes, contributors): each contributor's value in this version less its value in the published one."""


@dataclass(frozen=True)
class Record:
    """What earlier releases fix in a table joined to them (`with_record`)."""

    fixed: np.ndarray
    """Cells whose state the record sets: a cell unchanged since a release published it (published),
    and each version of a changed cell as released (published or hidden, as it was then)."""
    held: np.ndarray
    """Among the fixed cells, those hidden."""
    versions: tuple[tuple[int, ...], ...] = ()
    """The cells that are versions of one cell (the cell now and as released), where there are several."""

    @classmethod
    def none(cls, table: Table) -> Record:
        """No earlier release: nothing fixed."""
        nothing = np.zeros(len(table.cells), bool)
        return cls(nothing, nothing.copy())

    @property
    def given(self) -> np.ndarray:
        """The published cells the record fixes: figures every attacker already holds."""
        return np.asarray(self.fixed & ~self.held)

    def revisions(self, table: Table, suppressed: np.ndarray) -> list[Revision]:
        """Every version of a cell beside each published version of it, under the pattern `suppressed`."""
        found = []
        for group in self.versions:
            for a in (a for a in group if not suppressed[a]):
                found += [Revision(b, table.contributions[:, :, a].sum(axis=1),
                                   table.contributions[:, :, b] - table.contributions[:, :, a]) for b in group if b != a]
        return found


def _released_key(key: Any, release: int) -> Any:
    label = f"as released {release}"
    return (*key, label) if isinstance(key, tuple) else (key, label)


def with_record(table: Table, releases: Sequence[Release]) -> tuple[Table, Record]:
    """`table` joined to the earlier releases of it, in any order: its own cells first, then each
    version of a cell as released where it differs from the cell now (keys ending 'as released N'),
    with every release's relations over its versions; contributors of a release alone are added
    with nothing now. Returns the joined table and what the record fixes in it."""
    names = list(table.contributors) or [str(c) for c in range(table.contributions.shape[1])]
    position = {name: c for c, name in enumerate(names)}
    for release in releases:
        for name in release.table.contributors:
            if name not in position:
                position[name] = len(names)
                names.append(name)
    v = table.contributions.shape[0]

    def aligned(t: Table) -> np.ndarray:
        out = np.zeros((v, len(names), len(t.cells)))
        who = [position[n] for n in t.contributors] if t.contributors else list(range(t.contributions.shape[1]))
        out[:, who, :] = t.contributions
        return out

    now = aligned(table)
    m = len(table.cells)
    keys = list(table.cells)
    where = {key: j for j, key in enumerate(table.cells)}
    versions: list[np.ndarray] = []
    of_key: dict[Any, list[int]] = {}
    published_then: set[int] = set()
    relations = list(table.relations)
    seen = {(whole, tuple(sorted(parts))) for whole, parts in relations}
    for number, release in enumerate(releases, 1):
        then = aligned(release.table)
        target = []
        for k, key in enumerate(release.table.cells):
            values = then[:, :, k]
            j = where.get(key)
            if j is not None and np.array_equal(values, now[:, :, j]):
                target.append(j)
            else:
                match = next((e for e in of_key.get(key, []) if np.array_equal(versions[e - m], values)), None)
                if match is None:
                    match = m + len(versions)
                    versions.append(values)
                    keys.append(_released_key(key, number))
                    of_key.setdefault(key, []).append(match)
                target.append(match)
            if release.published[k]:
                published_then.add(target[-1])
        for whole, parts in release.table.relations:
            mapped = (target[whole], tuple(sorted(target[p] for p in parts)))
            if mapped not in seen:
                seen.add(mapped)
                relations.append((mapped[0], mapped[1]))
    contributions = np.concatenate([now, *(x[:, :, None] for x in versions)], axis=2) if versions else now
    size = len(keys)
    fixed = np.zeros(size, bool)
    fixed[list(published_then)] = True
    fixed[m:] = True
    held = fixed.copy()
    held[list(published_then)] = False
    joined = Table(tuple(keys), contributions, tuple(relations), table.magnitudes, tuple(names))
    groups = tuple(tuple(([where[key]] if key in where else []) + extra) for key, extra in of_key.items())
    return joined, Record(fixed, held, tuple(g for g in groups if len(g) > 1))


def revision_failures(table: Table, revisions: Sequence[Revision], rules: Rules) -> np.ndarray:
    """Which revisions' changes break a primary rule, judged as a cell of their own whose
    contributors are the sightholders whose values changed, each by the size of its change."""
    if not revisions:
        return np.zeros(0, bool)
    changes = np.stack([np.abs(r.change) for r in revisions], axis=2)
    return primary(Table(tuple(range(len(revisions))), changes, ()), rules)


def _components(table: Table, hidden: np.ndarray) -> tuple[np.ndarray, list[tuple[int, tuple[int, ...]]]]:
    """Which hidden cells the relations tie together (a component label per cell; -1 for a published
    one), and the relations that hold a hidden cell: only these constrain the hidden totals."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m = len(table.cells)
    binding = [(whole, parts) for whole, parts in table.relations if hidden[whole] or hidden[list(parts)].any()]
    rows, cols = [], []
    for row, (whole, parts) in enumerate(binding):
        members = [c for c in (whole, *parts) if hidden[c]]
        rows += [m + row] * len(members)
        cols += members
    size = m + len(binding)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    return np.where(hidden, labels[:m], -1), binding


BATCH_VARIABLES = 40_000
"""Most variables in one call of the solver: programmes of one component are solved side by side as
one block-diagonal programme (their optima are independent), up to this size."""


def intervals_many(table: Table, suppressed: np.ndarray, magnitude: int, known: np.ndarray, wanted: np.ndarray,
                   sides: tuple[str, ...] = ("low", "high"),
                   solutions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each of several attackers (rows of `known`: its lower bound on each hidden cell, its own
    value there), the lowest and highest total of each hidden cell `wanted` marks that it can derive
    from the published cells and the relations: linear programming (HiGHS), one programme per
    attacker, cell and side over the hidden cells the relations tie to that cell. Returns (low, high),
    each (attackers, cells); cells not solved keep their published total, and a side nothing caps is
    infinite. `sides` chooses which bounds to solve for. `solutions`, when given (shape (cells, cells),
    filled with the totals, one attacker only), receives each lowest programme's solution: row j holds
    the totals at cell j's lowest."""
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix, identity, kron

    totals = table.totals[magnitude].astype(np.float64)
    attackers = known.shape[0]
    low, high = np.tile(totals, (attackers, 1)), np.tile(totals, (attackers, 1))
    wanted = wanted & suppressed[None, :]
    if not wanted.any():
        return low, high
    cap = 4.0 * float(np.abs(totals).sum()) + 1.0  # beyond any total the relations allow but for an uncapped one
    component, binding = _components(table, suppressed)
    signs = [sign for sign, side in ((1.0, "low"), (-1.0, "high")) if side in sides]
    for label in np.unique(component[wanted.any(axis=0) & (component >= 0)]):
        cells = np.flatnonzero(component == label)
        position = {int(c): i for i, c in enumerate(cells)}
        data, rows, cols, rhs = [], [], [], []
        for row, (whole, parts) in enumerate(r for r in binding if any(int(c) in position for c in (r[0], *r[1]))):
            constant = 0.0
            for cell, sign in ((whole, 1.0), *((p, -1.0) for p in parts)):
                if cell in position:
                    rows.append(row)
                    cols.append(position[cell])
                    data.append(sign)
                else:
                    constant += sign * float(totals[cell])
            rhs.append(-constant)
        equations = csr_matrix((data, (rows, cols)), shape=(len(rhs), len(cells)))
        who, which = np.nonzero(wanted[:, cells])
        tasks = [(g, i, sign) for sign in signs for g, i in zip(who.tolist(), which.tolist(), strict=True)]
        n = len(cells)
        batch = max(1, BATCH_VARIABLES // n)
        for first in range(0, len(tasks), batch):
            chunk = tasks[first:first + batch]
            count = len(chunk)
            task_who = np.array([t[0] for t in chunk])
            task_cell = np.array([t[1] for t in chunk])
            task_sign = np.array([t[2] for t in chunk])
            objective = np.zeros(count * n)
            objective[np.arange(count) * n + task_cell] = task_sign
            lower = known[task_who][:, cells].ravel()
            found = linprog(objective, A_eq=kron(identity(count, format="csr"), equations, format="csr"),
                            b_eq=np.tile(np.asarray(rhs, np.float64), count),
                            bounds=np.column_stack([lower, np.full(count * n, cap)]), method="highs")
            if found.status != 0:
                raise DisclosureRefused(f"the audit's linear programme for cells {[table.cells[c] for c in cells[:3]]} "
                                        f"did not solve ({found.message})")
            x = found.x.reshape(count, n)
            value = x[np.arange(count), task_cell]
            uncapped = np.zeros(count, bool)
            # a programme that reached the cap somewhere is solved again on its own, uncapped
            for t in np.flatnonzero((x >= cap * (1 - 1e-9)).any(axis=1)):
                alone = linprog(objective[t * n:(t + 1) * n], A_eq=equations, b_eq=np.asarray(rhs, np.float64),
                                bounds=[(b, None) for b in lower[t * n:(t + 1) * n]], method="highs")
                uncapped[t] = alone.status == 3
                if alone.status == 0:
                    value[t], x[t] = task_sign[t] * alone.fun, alone.x
            at_low = task_sign > 0
            low[task_who[at_low], cells[task_cell[at_low]]] = value[at_low]
            high[task_who[~at_low], cells[task_cell[~at_low]]] = np.where(uncapped[~at_low], np.inf, value[~at_low])
            if solutions is not None:
                solutions[cells[task_cell[at_low]][:, None], cells[None, :]] = x[at_low]
    return low, high


def intervals(table: Table, suppressed: np.ndarray, magnitude: int, known: np.ndarray,
              wanted: np.ndarray | None = None, sides: tuple[str, ...] = ("low", "high"),
              solutions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`intervals_many` for one attacker knowing `known`; every hidden cell unless `wanted` says."""
    chosen = suppressed if wanted is None else wanted
    low, high = intervals_many(table, suppressed, magnitude, known[None, :], chosen[None, :], sides, solutions)
    return low[0], high[0]


def _needs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(contributors, cells): each contributor's largest other contributor's value in each cell, and
    whether that other is the only one (then a lower bound on the total bounds it from below too)."""
    ranked = -np.sort(-values, axis=0)
    first = ranked[0]
    second = ranked[1] if values.shape[0] > 1 else np.zeros_like(first)
    # the largest contributor's largest other is the second; every other contributor's is the largest
    top = np.argmax(values, axis=0)
    largest_other = np.where(np.arange(values.shape[0])[:, None] == top[None, :], second[None, :], first[None, :])
    count = (values > 0).sum(axis=0)
    lone_other = (count[None, :] - (values > 0)) == 1
    return largest_other, lone_other


def _narrowed_above(values: np.ndarray, high: np.ndarray, rules: Rules) -> np.ndarray:
    """Where a contributor's upper bound on the total, less its own value, comes within p% above the
    largest other contributor's value."""
    largest_other, _ = _needs(values)
    slack = TOLERANCE * np.maximum(largest_other, 1.0)
    return np.asarray((largest_other > 0) & (np.broadcast_to(high, values.shape) - values < (1 + rules.p) * largest_other - slack))


def _narrowed_below(values: np.ndarray, low: np.ndarray, rules: Rules) -> np.ndarray:
    """Where a contributor facing one other contributor bounds the total from below, less its own
    value, within p% under the other's value."""
    largest_other, lone_other = _needs(values)
    slack = TOLERANCE * np.maximum(largest_other, 1.0)
    return np.asarray((largest_other > 0) & lone_other
                      & (np.broadcast_to(low, values.shape) - values > (1 - rules.p) * largest_other + slack))


def _narrowed(values: np.ndarray, low: np.ndarray, high: np.ndarray, rules: Rules) -> np.ndarray:
    """(contributors, cells): where a contributor, knowing its own values and that each cell's total
    lies in [low, high] (per cell, or per contributor and cell), bounds another contributor's value to
    within p%."""
    return np.asarray(_narrowed_above(values, high, rules) | _narrowed_below(values, low, rules))


def breaches(table: Table, suppressed: np.ndarray, rules: Rules, record: Record | None = None) -> list[Breach]:
    """Every (cell, magnitude, attacker) where the attacker, from everything published plus its own
    values, bounds another contributor's value in the cell to within p%: for a published cell its
    interval is the figure itself, for a suppressed one the linear programme's. Also every published
    cell breaking a primary rule (attacker '*').

    The programmes are first solved once with every hidden cell known to hold at least its second
    largest contributor's value: every attacker that is not the largest contributor of a hidden cell
    knows no more than that, so its own intervals are at least as wide. Below, an attacker this view
    does not clear is cleared by `_cleared_below` when it is not the cell's largest contributor. Only
    the largest contributors of hidden cells, and attackers these views do not clear, get programmes
    of their own.

    With a `record` (`with_record`), the published cells it fixes are figures every attacker already
    holds: they are constants of the programmes, not judged again; every revision is judged
    (`revision_breaches`)."""
    found: list[Breach] = []
    given = record.given if record is not None else np.zeros(len(table.cells), bool)
    failures = rule_failures(table, rules)
    broken = np.logical_or.reduce([failures[rule] for rule in RULES]) & ~suppressed & ~given
    totals = table.totals
    for j in np.flatnonzero(broken):
        found.append(Breach(table.cells[j], "primary rules", "*", float(totals[0, j]), float(totals[0, j])))
    values = table.contributions
    for v in range(values.shape[0]):
        mine = values[v]  # contributors x cells
        ranked = -np.sort(-mine, axis=0)
        hidden_first = np.where(suppressed, ranked[0], 0.0)
        hidden_second = np.where(suppressed, ranked[1] if mine.shape[0] > 1 else 0.0, 0.0)
        # knowing every hidden cell's largest value leaves intervals no attacker's own knowledge widens:
        # its highs bound every attacker's highs from below
        _, high = intervals(table, suppressed, v, hidden_first, sides=("high",))
        doubtful = _narrowed_above(mine, high, rules)
        # knowing the second largest: an attacker whose own values the lowest solutions respect reaches them
        solutions = np.tile(totals[v].astype(np.float64), (len(table.cells), 1))
        low, _ = intervals(table, suppressed, v, hidden_second, solutions=solutions, sides=("low",))
        slack = TOLERANCE * np.maximum(mine, 1.0)
        reaches = ((solutions[None, :, :] >= (mine - slack)[:, None, :]) | ~suppressed[None, None, :]).all(axis=2)
        _, lone_other = _needs(mine)
        below = _narrowed_below(mine, low, rules) | (lone_other & ~reaches & suppressed[None, :])
        below &= ~_cleared_below(table, suppressed, v, hidden_first, hidden_second, below, rules)
        doubtful = (doubtful | below) & ~given[None, :]
        attackers = np.flatnonzero(doubtful.any(axis=1))
        if attackers.size == 0:
            continue
        known = np.where(suppressed[None, :], mine[attackers], 0.0)
        groups, group_of = np.unique(known, axis=0, return_inverse=True)
        group_of = np.asarray(group_of).reshape(-1)
        wanted = np.zeros((len(groups), len(table.cells)), bool)
        np.logical_or.at(wanted, group_of, doubtful[attackers])
        lows, highs = intervals_many(table, suppressed, v, groups, wanted)
        magnitude = table.magnitudes[v] if table.magnitudes else str(v)
        every_low, every_high = np.tile(totals[v], (mine.shape[0], 1)), np.tile(totals[v], (mine.shape[0], 1))
        every_low[attackers], every_high[attackers] = lows[group_of], highs[group_of]
        narrowed = _narrowed(mine, every_low, every_high, rules)[attackers] & doubtful[attackers]
        for k, a in enumerate(attackers):
            name = table.contributors[a] if table.contributors else str(a)
            found += [Breach(table.cells[j], magnitude, name, float(lows[group_of[k], j]), float(highs[group_of[k], j]))
                      for j in np.flatnonzero(narrowed[k])]
    if record is not None and record.versions:
        found += revision_breaches(table, suppressed, rules, record.revisions(table, suppressed))
    return found


def _revision_narrowed(figure: np.ndarray, margin: np.ndarray, lone: np.ndarray, low: np.ndarray,
                       high: np.ndarray) -> np.ndarray:
    """(attackers, revisions): where an attacker's interval on a revised cell's figure does not reach
    `margin` (p% of the largest change by another contributor) above the figure, or, where one other
    contributor's value changed (`lone`), below it."""
    slack = TOLERANCE * np.maximum(np.abs(figure), 1.0)
    return np.asarray((margin > 0) & ((high < figure + margin - slack) | (lone & (low > figure - margin + slack))))


def _cleared_below(table: Table, suppressed: np.ndarray, magnitude: int, first: np.ndarray, second: np.ndarray,
                   below: np.ndarray, rules: Rules) -> np.ndarray:
    """(contributors, cells): where the lower side is cleared for an attacker that is not the cell's
    largest contributor. One lowest programme per hidden cell some attacker is doubtful at, with
    every hidden cell at least its largest contribution but that cell at its second largest: such
    an attacker knows no more, so its lowest is no higher."""
    mine = table.contributions[magnitude]
    cleared = np.zeros(mine.shape, bool)
    cells = np.flatnonzero(suppressed & below.any(axis=0))
    if cells.size == 0:
        return cleared
    rows = np.arange(len(cells))
    known = np.tile(first, (len(cells), 1))
    known[rows, cells] = second[cells]
    asked = np.zeros((len(cells), len(table.cells)), bool)
    asked[rows, cells] = True
    lows, _ = intervals_many(table, suppressed, magnitude, known, asked, sides=("low",))
    low = np.tile(table.totals[magnitude], (mine.shape[0], 1))
    low[:, cells] = lows[rows, cells][None, :]
    not_top = np.arange(mine.shape[0])[:, None] != np.argmax(mine, axis=0)[None, :]
    cleared[:, cells] = (not_top & ~_narrowed_below(mine, low, rules))[:, cells]
    return cleared


def revision_breaches(table: Table, suppressed: np.ndarray, rules: Rules, revisions: Sequence[Revision]) -> list[Breach]:
    """Every revision that gives a change away: published while its change breaks a primary rule
    (attacker '*'), or hidden while an attacker bounds its figure now to within p% of the largest
    change by another contributor above the true figure, or below it where that other is the only
    one whose value changed (the figure less the published one, less the attacker's own change,
    would bound that other's change).

    One pair of programmes with every hidden cell at least its largest contribution screens every
    attacker at once (its highs are below, its lows above, any attacker's); only the attackers it
    does not clear get programmes of their own, for the revisions it does not clear."""
    found: list[Breach] = []
    failing = revision_failures(table, revisions, rules)
    totals = table.totals
    for r, fails in zip(revisions, failing, strict=True):
        if fails and not suppressed[r.cell]:
            found.append(Breach(table.cells[r.cell], "revision", "*", float(totals[0, r.cell]), float(totals[0, r.cell])))
    hidden = [r for r in revisions if suppressed[r.cell]]
    if not hidden:
        return found
    values = table.contributions
    cells = np.array([r.cell for r in hidden])
    for v in range(values.shape[0]):
        mine = values[v]
        size = np.abs(np.stack([r.change[v] for r in hidden], axis=1))  # contributors x revisions
        ranked = -np.sort(-size, axis=0)
        first, second = ranked[0], (ranked[1] if size.shape[0] > 1 else np.zeros_like(ranked[0]))
        largest_other = np.where(np.arange(size.shape[0])[:, None] == np.argmax(size, axis=0)[None, :], second, first)
        lone = ((size > 0).sum(axis=0)[None, :] - (size > 0)) == 1
        figure = totals[v, cells]
        margin = rules.p * largest_other
        strongest = np.where(suppressed, mine.max(axis=0), 0.0)
        wanted = np.zeros(len(table.cells), bool)
        wanted[cells] = True
        low, high = intervals(table, suppressed, v, strongest, wanted)
        doubtful = _revision_narrowed(figure, margin, lone, low[None, cells], high[None, cells])
        attackers = np.flatnonzero(doubtful.any(axis=1))
        if attackers.size == 0:
            continue
        known = np.where(suppressed[None, :], mine[attackers], 0.0)
        groups, group_of = np.unique(known, axis=0, return_inverse=True)
        group_of = np.asarray(group_of).reshape(-1)
        asked = np.zeros((len(groups), len(table.cells)), bool)
        for g, row in zip(group_of, doubtful[attackers], strict=True):
            asked[g, cells[row]] = True
        lows, highs = intervals_many(table, suppressed, v, groups, asked)
        lows, highs = lows[group_of][:, cells], highs[group_of][:, cells]
        narrowed = _revision_narrowed(figure, margin[attackers], lone[attackers], lows, highs) & doubtful[attackers]
        magnitude = table.magnitudes[v] if table.magnitudes else str(v)
        for k, i in zip(*np.nonzero(narrowed), strict=True):
            a = attackers[k]
            name = table.contributors[a] if table.contributors else str(a)
            found.append(Breach(table.cells[cells[i]], f"{magnitude}, revised since released", name,
                                float(lows[k, i]), float(highs[k, i])))
    return found


def audit(table: Table, suppression: Suppression, rules: Rules, record: Record | None = None) -> list[Problem]:
    """Every problem the audit finds with publishing `suppression`'s pattern (none: it may go out),
    over the earlier releases `record` fixes when given."""
    return [b.problem() for b in breaches(table, suppression.suppressed, rules, record)]


def require_safe(table: Table, suppression: Suppression, rules: Rules, record: Record | None = None) -> None:
    """Refuse (`DisclosureRefused`, one problem per breach) a pattern the audit fails."""
    problems = audit(table, suppression, rules, record)
    if problems:
        raise DisclosureRefused(problems)


def _relation_partners(table: Table) -> list[set[int]]:
    partners: list[set[int]] = [set() for _ in table.cells]
    for whole, parts in table.relations:
        members = (whole, *parts)
        for cell in members:
            partners[cell].update(members)
    return partners


def protect(table: Table, rules: Rules, forced: np.ndarray | None = None, record: Record | None = None) -> Suppression:
    """Primary suppression by the rules, then complementary cells until the audit passes: first no
    relation with a single hidden cell (it would follow by subtraction), then, for each cell the audit
    still finds narrowable, the smallest published cell nearest to it along the relations: one sharing
    a relation with it, else one sharing a relation with a hidden cell tied to it (a margin or total
    further out), else the smallest published cell of the table. Without a record, a table with every
    cell hidden lets no attacker bound any total above, nor below past its own values (its relations
    hold no published figure), so the pattern returned always passes the audit; `DisclosureRefused` only if the audit
    still fails with nothing left to hide. `forced` marks cells to hide whatever the rules say (a total
    another table of the same report hides).

    With a `record` (`with_record`), the cells it fixes keep the state they were released in and are
    never picked; a revision whose change breaks a primary rule is hidden ('revision'). Then the
    search can run out of cells to hide while the audit still fails: `DisclosureRefused`, naming
    each breach."""
    record = record if record is not None else Record.none(table)
    failures = rule_failures(table, rules)
    suppressed = np.logical_or.reduce([failures[rule] for rule in RULES]).copy()
    reasons = {int(j): tuple(rule for rule in RULES if failures[rule][j]) for j in np.flatnonzero(suppressed)}
    if forced is not None:
        for j in np.flatnonzero(forced & ~suppressed & ~record.fixed):
            reasons[int(j)] = ("shared total",)
        suppressed |= forced
    revisions = record.revisions(table, ~record.given)  # beside the versions published for good
    failing = revision_failures(table, revisions, rules)
    for revision in (r for r, fails in zip(revisions, failing, strict=True) if fails):
        reasons.setdefault(revision.cell, ("revision",))
        suppressed[revision.cell] = True
    suppressed = np.where(record.fixed, record.held, suppressed)
    for j in np.flatnonzero(record.fixed):
        reasons.pop(int(j), None)
        if record.held[j]:
            reasons[int(j)] = ("as released",)
    size = table.totals[0]
    partners = _relation_partners(table)

    def hide(j: int) -> None:
        suppressed[j] = True
        reasons.setdefault(j, ("complementary",))

    def smallest_open(candidates: Sequence[int]) -> int | None:
        open_cells = [c for c in candidates if not suppressed[c] and not record.fixed[c]]
        return min(open_cells, key=lambda c: (size[c], c)) if open_cells else None

    def nearest_open(at: int) -> int | None:
        """The smallest published cell sharing a relation with `at`, else with the hidden cells the
        relations tie to it, ring by ring outwards."""
        seen, ring = {at}, {at}
        while ring:
            reached = set().union(*(partners[c] for c in ring)) - seen
            pick = smallest_open(sorted(reached))
            if pick is not None:
                return pick
            seen |= reached
            ring = reached
        return None

    changed = True
    while changed:
        changed = False
        for whole, parts in table.relations:
            members = (whole, *parts)
            if sum(bool(suppressed[c]) for c in members) == 1:
                pick = smallest_open(members)
                if pick is not None:
                    hide(pick)
                    changed = True
    while True:
        found = breaches(table, suppressed, rules, record)
        if not found:
            return Suppression(table, suppressed, reasons)
        progressed = False
        for cell in dict.fromkeys(b.cell for b in found):
            pick = nearest_open(table.index(cell))
            if pick is None:
                pick = smallest_open(range(len(table.cells)))
            if pick is not None:
                hide(pick)
                progressed = True
        if not progressed:
            raise DisclosureRefused([b.problem() for b in found] + ([Problem(
                "disclosure_refused", "the figures earlier reports released fix the cells these would need hidden: "
                "no pattern of this table passes the audit over every period")] if record.fixed.any() else []))
