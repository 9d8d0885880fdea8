"""The join graph between tables: declared foreign keys, and `*_id` names where no key is declared.

A question about "singers in concerts" names two tables; the table that joins them (`singer_in_concert`) may not
share a single word with it. The search therefore lends each table the scores of its neighbours: a table next to one
strong hit is a likely join partner, a table between two strong hits is almost surely needed.

Edges without a declared key are inferred inside one schema only, two ways:
- a column named exactly like another table's one-column primary key of two words or more (`concert.Stadium_ID` ->
  `stadium.Stadium_ID`; a bare `id` says nothing);
- a column `<name>_id` / `<name>Id` where `<name>` is another table's name, singular or plural (`orders.customer_id`
  -> `customers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from connectors.catalog import Catalog
from tasks.analyst_agent.search.results import TableKey
from tasks.analyst_agent.search.text import split_identifier, stem

DECLARED = 1
INFERRED = 2
MAX_INFERRED_TARGETS = 3


@dataclass
class JoinGraph:
    """Undirected adjacency in CSR form: neighbours of table i are indices[indptr[i]:indptr[i+1]]."""

    indptr: np.ndarray  # int64
    indices: np.ndarray  # int32
    kinds: np.ndarray  # int8, DECLARED or INFERRED
    columns: list[str]  # per edge slot: the joining column(s), "a.col -> b.col"

    def neighbours(self, i: int) -> list[tuple[int, int, str]]:
        s, e = int(self.indptr[i]), int(self.indptr[i + 1])
        return [(int(self.indices[j]), int(self.kinds[j]), self.columns[j]) for j in range(s, e)]

    def neighbour_max(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per table: the best and the second-best score among its neighbours (0 without neighbours).

        Linear in the number of edges (two segmented maxima over the CSR slots), so a question on a 20,000-table
        catalog with ~100,000 edge ends costs a few milliseconds here."""
        n = len(self.indptr) - 1
        best = np.zeros(n, np.float32)
        second = np.zeros(n, np.float32)
        if len(self.indices) == 0:
            return best, second
        counts = np.diff(self.indptr)
        rows = np.flatnonzero(counts)
        starts = self.indptr[:-1][rows]
        values = scores[self.indices].astype(np.float32)
        best[rows] = np.maximum.reduceat(values, starts)
        # knock out one slot holding each row's best, then the segmented maximum again is the runner-up
        slot_row = np.repeat(np.arange(n), counts)
        at_best = np.flatnonzero(values == best[slot_row])
        first = at_best[np.flatnonzero(np.diff(slot_row[at_best], prepend=-1))]
        values[first] = -np.inf
        two = counts[rows] >= 2
        second[rows[two]] = np.maximum.reduceat(values, starts)[two]
        return best, second


def build_graph(catalog: Catalog, keys: Sequence[TableKey]) -> JoinGraph:
    position = {k: i for i, k in enumerate(keys)}
    folded: dict[tuple[str, str, str], int] = {}
    for i, k in enumerate(keys):
        folded.setdefault((k.database.lower(), k.schema.lower(), k.table.lower()), i)

    edges: dict[tuple[int, int], tuple[int, str]] = {}

    def add(a: int, b: int, kind: int, how: str) -> None:
        if a == b:
            return
        pair = (min(a, b), max(a, b))
        if pair not in edges or edges[pair][0] == INFERRED and kind == DECLARED:
            edges[pair] = (kind, how)

    tables = list(catalog.iter_tables())
    for db, schema, table in tables:
        here = position[TableKey(db.name, schema.name, table.name)]
        for fk in table.foreign_keys:
            target = (fk.referred_database or db.name, fk.referred_schema or schema.name, fk.referred_table)
            there = position.get(TableKey(*target))
            if there is None:
                there = folded.get(tuple(p.lower() for p in target))  # type: ignore[arg-type]
            if there is not None:
                cols = ", ".join(fk.columns)
                ref = ", ".join(fk.referred_columns)
                add(here, there, DECLARED, f"{table.name}.{cols} -> {fk.referred_table}.{ref}")

    _infer_edges(tables, position, edges, add)

    n = len(keys)
    adjacency: list[list[tuple[int, int, str]]] = [[] for _ in range(n)]
    for (a, b), (kind, how) in edges.items():
        adjacency[a].append((b, kind, how))
        adjacency[b].append((a, kind, how))
    indptr = np.zeros(n + 1, np.int64)
    indptr[1:] = np.cumsum([len(x) for x in adjacency])
    flat = [edge for row in adjacency for edge in row]
    return JoinGraph(
        indptr=indptr,
        indices=np.array([e[0] for e in flat], np.int32),
        kinds=np.array([e[1] for e in flat], np.int8),
        columns=[e[2] for e in flat],
    )


def _infer_edges(tables, position, edges, add) -> None:  # type: ignore[no-untyped-def]
    names = {i: k.table for k, i in position.items()}
    by_group: dict[tuple[str, str], list] = {}
    for db, schema, table in tables:
        by_group.setdefault((db.name, schema.name), []).append(table)
    for (db_name, schema_name), group in by_group.items():
        pk_owner: dict[str, list[int]] = {}
        name_owner: dict[str, list[int]] = {}
        for table in group:
            i = position[TableKey(db_name, schema_name, table.name)]
            if len(table.primary_key) == 1 and len(split_identifier(table.primary_key[0])) >= 2:
                pk_owner.setdefault(table.primary_key[0].lower(), []).append(i)
            name_owner.setdefault(" ".join(stem(w) for w in split_identifier(table.name)), []).append(i)
        for table in group:
            i = position[TableKey(db_name, schema_name, table.name)]
            for col in table.columns:
                targets = list(pk_owner.get(col.name.lower(), []))
                words = split_identifier(col.name)
                if len(words) >= 2 and words[-1] == "id":
                    targets += name_owner.get(" ".join(stem(w) for w in words[:-1]), [])
                if len(targets) > MAX_INFERRED_TARGETS:
                    continue  # a key name shared by many tables (`record_id`) joins none of them for sure
                for j in dict.fromkeys(targets):
                    if j != i and (min(i, j), max(i, j)) not in edges:
                        add(i, j, INFERRED, f"{table.name}.{col.name} ~ {names[j]}")


#: the leading hits whose join paths are completed
JOIN_PATH_HITS = 3
#: ... when both tables of a pair score within ln(1/0.25) ~ 1.4 of the best: a weak third hit is often a wrong one,
#: and a "bridge" to it would push a right one out
JOIN_PATH_MIN_SHARE = 0.25


def complete_join_paths(
    order: np.ndarray, scores: np.ndarray, graph: JoinGraph, table_group: np.ndarray
) -> tuple[np.ndarray, dict[int, tuple[int, int]]]:
    """Move up the table that joins two leading hits which do not join directly.

    Two of the first `JOIN_PATH_HITS` tables (both strong, see JOIN_PATH_MIN_SHARE) in one schema with no edge
    between them can only be queried together through a third table; when one table neighbours both, it is moved to
    just after the pair (the best-scored such table, if several; from wherever it was, even past the end of
    `order`). Returns the new order and, per moved table, the pair it joins."""
    best = float(scores[order[0]]) if len(order) else 0.0
    lead = [int(t) for t in order[:JOIN_PATH_HITS] if np.exp(float(scores[t]) - best) >= JOIN_PATH_MIN_SHARE]
    bridges: dict[int, tuple[int, int]] = {}
    result = [int(t) for t in order]
    for x in range(len(lead)):
        for y in range(x + 1, len(lead)):
            a, b = lead[x], lead[y]
            if table_group[a] != table_group[b]:
                continue
            around_a = {j for j, _, _ in graph.neighbours(a)}
            if b in around_a:
                continue
            common = around_a & {j for j, _, _ in graph.neighbours(b)}
            if not common or common & set(lead) or common & set(bridges):
                continue
            bridge = max(common, key=lambda j: (scores[j], -j))
            if bridge in result:
                result.remove(bridge)
            result.insert(max(result.index(a), result.index(b)) + 1, bridge)
            bridges[bridge] = (a, b)
    return np.array(result, dtype=np.int64), bridges
