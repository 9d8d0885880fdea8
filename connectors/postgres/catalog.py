"""Bulk PostgreSQL introspection from `pg_catalog`: two statements, whatever the number of tables.

`information_schema` joins through `constraint_column_usage` and friends took 215 s on a large schema; SQLAlchemy's
reflection asks several questions per table. Here the whole catalog comes from two statements that each answer for
every selected relation at once, and Python stitches the answers together:

1. relations — schemas, tables, views, materialized views, foreign and partitioned tables, with their table and
   column comments (`pg_description` grouped per relation: joined per column instead, a stale row estimate on
   pg_description made the planner loop 1.8 M times at 2,000 tables). Filters (globs) are applied to this list in
   Python; the second statement receives the selected OIDs, so a narrow filter also makes it cheap.
2. details — one stream of tagged rows for the selected relations: columns (`pg_attribute` + `format_type` +
   `pg_attrdef`), primary and foreign keys (`pg_constraint`; `conkey`/`confkey` attribute numbers are mapped to names
   with the columns already read, the server resolves names itself only for keys pointing outside the selection),
   view definitions (`pg_get_viewdef`) and the statistics VACUUM/ANALYZE keep in `pg_class`: the row estimate
   (`reltuples`) and the size (`relpages` of the table, its TOAST table and its indexes, times the block size),
   partitions summed into their parent; both None until the table was first vacuumed or analyzed
   (`pg_total_relation_size` would stat every file of every table: 0.3 s at 2,000 tables).

Why one stream: building the models is the slow side (~2 µs of Python per column), the server's side of the work
is not. The rows are read in binary chunks as they arrive, columns first, so Python builds columns while the server
is still producing the rest; as separate statements, keys, views and statistics each made Python wait for the server
(~35 ms of 150 at 2,000 tables). JIT compilation is off for the transaction: it never pays for catalog statements,
and once a statement's estimated cost crossed `jit_above_cost` it alone took 0.4 s on the 2,000-table benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any, Callable, Iterable, Sequence

from connectors.base import ProgressCallback
from connectors.catalog import Catalog, CatalogFilters, Column, Database, ForeignKey, Schema, Table, TableKind
from connectors.gc_pause import building_long_lived_objects
from connectors.postgres.types import normalize_type
from connectors.trusted_models import constructor_for

#: schemas PostgreSQL itself owns; `pg_temp_N` / `pg_toast_temp_N` are matched by prefix.
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
SYSTEM_SCHEMA_PREFIXES = ("pg_temp_", "pg_toast_temp_")

_KINDS: dict[str, TableKind] = {"r": "table", "p": "table", "v": "view", "m": "materialized_view", "f": "external"}

# `no_jit` turns JIT compilation off for the rest of this (read-only, REPEATABLE READ) transaction, without a round
# trip of its own: the details statement's estimated cost grows with the number of keys (~80,000 at 2,000 tables) and
# past `jit_above_cost` (100,000) PostgreSQL would spend ~0.4 s compiling a plan that runs in 0.07 s.
RELATIONS_SQL = """
WITH no_jit AS MATERIALIZED (SELECT set_config('jit', 'off', true))
SELECT n.nspname AS schema_name, c.oid, c.relname, c.relkind,
       d.subids AS comment_subids,
       d.texts AS comment_texts
  FROM no_jit, pg_namespace n
  LEFT JOIN pg_class c
         ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  LEFT JOIN (SELECT objoid, array_agg(objsubid) AS subids, array_agg(description) AS texts
               FROM pg_description
              WHERE classoid = 'pg_catalog.pg_class'::regclass
              GROUP BY objoid) d
         ON d.objoid = c.oid
 WHERE n.nspname <> ALL (%(system_schemas)s)
   AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
   AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%%'
"""

# Everything else about the selected relations, as one stream of tagged rows. Every branch fills the same 15
# positions (typed NULLs where a branch has nothing to say):
#
#   position        'c' column            'k' key                  'v' view        's' statistics
#   tag, oid        'c', attrelid         'k', conrelid            'v', oid        's', oid
#   number          attnum (ordinal)      -                        -               -
#   name            attname               conname                  -               -
#   text_1          format_type           contype ('p' / 'f')      pg_get_viewdef  -
#   text_2          domain's base type    referred schema          -               -
#   text_3          typcategory           referred table           -               -
#   flag            attnotnull            -                        -               -
#   text_4          default expression    -                        -               -
#   conkey/confkey  -                     attribute numbers        -               -
#   referred_oid    -                     confrelid                -               -
#   referred_names  -                     names, when the referred table is not selected
#   row_estimate, size_bytes                                                       reltuples; pages x block size
DETAILS_SQL = """
WITH stat_targets AS (   -- selected tables and materialized views, and the partitions of selected partitioned tables
    SELECT c.oid AS owner, c.oid
      FROM pg_class c
     WHERE c.oid = ANY (%(oids)s::oid[]) AND c.relkind IN ('r', 'm')
    UNION ALL
    SELECT p.oid, pt.relid
      FROM pg_class p
     CROSS JOIN LATERAL pg_partition_tree(p.oid) pt
     WHERE p.oid = ANY (%(oids)s::oid[]) AND p.relkind = 'p'
), index_pages AS (
    SELECT i.indrelid AS oid, sum(ic.relpages) AS pages
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
     WHERE i.indrelid IN (SELECT oid FROM stat_targets)
     GROUP BY i.indrelid
)
SELECT 'c'::"char" AS tag, a.attrelid AS oid, a.attnum AS number, a.attname::text AS name,
       format_type(a.atttypid, a.atttypmod) AS text_1,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS text_2,
       t.typcategory::text AS text_3,
       a.attnotnull AS flag,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, 0) END AS text_4,
       NULL::int2[] AS conkey, NULL::int2[] AS confkey, NULL::oid AS referred_oid, NULL::text[] AS referred_names,
       NULL::bigint AS row_estimate, NULL::bigint AS size_bytes
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
 WHERE a.attrelid = ANY (%(oids)s::oid[])
   AND a.attnum > 0
   AND NOT a.attisdropped
UNION ALL
SELECT 'k', con.conrelid, NULL, con.conname::text, con.contype::text, fn.nspname::text, fc.relname::text, NULL, NULL,
       con.conkey, con.confkey, con.confrelid,
       CASE WHEN con.contype = 'f' AND inside.oid IS NULL THEN
            ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, position)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                   ORDER BY k.position) END,
       NULL, NULL
  FROM pg_constraint con
  LEFT JOIN pg_class fc ON fc.oid = con.confrelid
  LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
  -- "is the referred table selected?" as a hash join: `confrelid = ANY (oids)` in the CASE compared every key with
  -- every selected oid (4,000 x 2,000 at 2,000 tables, a third of the keys' time)
  LEFT JOIN unnest(%(oids)s::oid[]) AS inside(oid) ON inside.oid = con.confrelid
 WHERE con.conrelid = ANY (%(oids)s::oid[])
   AND con.contype IN ('p', 'f')
   AND con.conparentid = 0
UNION ALL
SELECT 'v', c.oid, NULL, NULL, pg_get_viewdef(c.oid), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM pg_class c
 WHERE c.oid = ANY (%(oids)s::oid[]) AND c.relkind IN ('v', 'm')
UNION ALL
SELECT 's', st.owner, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       sum(CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END)::bigint,
       sum(CASE WHEN c.reltuples >= 0 OR c.relpages > 0 THEN
                (c.relpages::bigint + coalesce(toast.relpages, 0) + coalesce(ip.pages, 0))
                * current_setting('block_size')::bigint END)::bigint
  FROM stat_targets st
  JOIN pg_class c ON c.oid = st.oid AND c.relkind IN ('r', 'm')
  LEFT JOIN pg_class toast ON toast.oid = c.reltoastrelid
  LEFT JOIN index_pages ip ON ip.oid = c.oid
 GROUP BY st.owner
"""

# A statement runner: (sql, params) -> rows as tuples. The connector supplies it and counts the round trips.
CatalogQuery = Callable[[str, dict[str, Any]], Sequence[tuple[Any, ...]]]
# The same for one statement whose rows are handed over as they arrive (one round trip, read in chunks).
CatalogStream = Callable[[str, dict[str, Any]], Iterable[tuple[Any, ...]]]

# Every value below comes typed from pg_catalog through psycopg (see trusted_models for why that is not validated
# again); tables are assembled as dicts and built once their columns and keys are known.
_new_column = constructor_for(Column)
_new_foreign_key = constructor_for(ForeignKey)
_new_table = constructor_for(Table)
_ORDINAL = attrgetter("ordinal")
_TABLE_AND_NAME = itemgetter(1, 3)  # of a key row: keys listed by table, then constraint name


def oid_array(oids: Iterable[int]) -> str:
    """An `oid[]` literal: written once and sent as text to the statements that take it, instead of psycopg adapting
    thousands of Python ints for each of them (~2 ms a statement at 2,000 tables)."""
    return "{" + ",".join(map(str, oids)) + "}"


def is_system_schema(name: str) -> bool:
    return name in SYSTEM_SCHEMAS or name.startswith(SYSTEM_SCHEMA_PREFIXES)


@dataclass
class _Relation:
    schema: str
    oid: int
    table: dict[str, Any]  # fields of `Table`, built at the end
    column_comments: dict[int, str]  # attnum -> comment

    def column_name(self, attnum: int) -> str:
        """The column with attribute number `attnum` (its ordinal); columns are sorted, so usually a direct index."""
        columns = self.table["columns"]
        if 0 < attnum <= len(columns) and columns[attnum - 1].ordinal == attnum:
            return columns[attnum - 1].name
        for column in columns:  # dropped columns leave gaps in the numbering
            if column.ordinal == attnum:
                return column.name
        raise KeyError(f"{self.table['name']}: no column number {attnum}")


@dataclass
class PostgresCatalogReader:
    """Reads one database's catalog with two statements."""

    run: CatalogQuery
    database: str
    #: streams the details statement; without one, its rows are read whole like the relations
    stream: CatalogStream | None = None
    source_type: str = "postgres"
    server_version: str | None = None
    round_trips: int = field(default=0, init=False)

    def _query(self, sql: str, params: dict[str, Any]) -> Sequence[tuple[Any, ...]]:
        self.round_trips += 1
        return self.run(sql, params)

    def _stream(self, sql: str, params: dict[str, Any]) -> Iterable[tuple[Any, ...]]:
        self.round_trips += 1
        return (self.stream or self.run)(sql, params)

    def read(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        with building_long_lived_objects():
            return self._read(filters or CatalogFilters(), progress or (lambda stage, fields: None))

    def _read(self, filters: CatalogFilters, notify: ProgressCallback) -> Catalog:
        catalog = Catalog(source_type=self.source_type, server_version=self.server_version)
        if not filters.database_ok(self.database):
            catalog.round_trips = self.round_trips
            return catalog

        schema_selected: dict[str, bool] = {}  # every relation row repeats its schema's name: decide once per schema
        selected: dict[int, _Relation] = {}
        for schema_name, oid, name, relkind, comment_subids, comment_texts in self._query(
            RELATIONS_SQL, {"system_schemas": list(SYSTEM_SCHEMAS)}
        ):
            schema_ok = schema_selected.get(schema_name)
            if schema_ok is None:
                schema_ok = not is_system_schema(schema_name) and filters.schema_ok(schema_name)
                schema_selected[schema_name] = schema_ok
            if not schema_ok:
                continue
            if name is None or not filters.table_ok(name):
                continue
            comments = dict(zip(comment_subids, comment_texts)) if comment_subids else {}
            table = {
                "name": name,
                "kind": _KINDS[relkind],
                "row_count": None,
                "size_bytes": None,
                "comment": comments.pop(0, None),
                "columns": [],
                "primary_key": [],
                "foreign_keys": [],
                "view_definition": None,
            }
            selected[oid] = _Relation(schema_name, oid, table, comments)
        schema_names = [name for name, ok in schema_selected.items() if ok]
        notify("relations", {"schemas": len(schema_names), "tables": len(selected)})

        if selected:
            self._add_details(selected, notify)

        relations = list(selected.values())
        tables = [_new_table(rel.table) for rel in relations]
        by_schema: dict[str, list[Table]] = {name: [] for name in schema_names}
        for rel, table in zip(relations, tables):
            by_schema[rel.schema].append(table)
        # the statements do not sort (cheaper here); snapshots want a stable order
        catalog.databases = [
            Database(
                name=self.database,
                schemas=[
                    Schema(name=name, tables=sorted(by_schema[name], key=lambda t: t.name)) for name in sorted(by_schema)
                ],
            )
        ]
        catalog.round_trips = self.round_trips
        notify("done", {"tables": len(selected), "round_trips": self.round_trips})
        return catalog

    def _add_details(self, selected: dict[int, _Relation], notify: ProgressCallback) -> None:
        keys: list[tuple[Any, ...]] = []
        views = 0
        for row in self._stream(DETAILS_SQL, {"oids": oid_array(selected)}):
            tag, oid, ordinal, name, data_type, domain_base, category, not_null, default, _, _, _, _, rows, size = row
            rel = selected.get(oid)
            if rel is None:
                continue
            if tag == "c":  # the hot path: a row per column
                rel.table["columns"].append(
                    _new_column(
                        {
                            "ordinal": ordinal,
                            "name": name,
                            "data_type": data_type,
                            "normalized_type": normalize_type(domain_base or data_type, category),
                            "nullable": not not_null,
                            "default": default,
                            "comment": rel.column_comments.get(ordinal),
                        }
                    )
                )
            elif tag == "k":  # names its columns by number: resolved once every column is known
                keys.append(row)
            elif tag == "v":
                rel.table["view_definition"] = data_type
                views += 1
            else:  # "s"
                rel.table["row_count"], rel.table["size_bytes"] = rows, size
        # The scan promises no order (updating a column's pg_attribute row, as adding a default does, moves it to the
        # end of the heap); sorting 20 mostly ordered columns per table costs less than tracking the order per row.
        for rel in selected.values():
            rel.table["columns"].sort(key=_ORDINAL)
        notify("columns", {"tables": len(selected)})
        self._add_keys(selected, keys)
        notify("keys", {"tables": len(selected)})
        if views:
            notify("views", {"views": views})

    def _add_keys(self, selected: dict[int, _Relation], rows: list[tuple[Any, ...]]) -> None:
        rows.sort(key=_TABLE_AND_NAME)
        for _, oid, _, name, kind, ref_schema, ref_table, _, _, conkey, confkey, ref_oid, ref_names, _, _ in rows:
            rel = selected[oid]
            columns = [rel.column_name(attnum) for attnum in conkey]
            if kind == "p":
                rel.table["primary_key"] = columns
                continue
            referred = (
                list(ref_names)
                if ref_names is not None
                else [selected[ref_oid].column_name(attnum) for attnum in confkey]
            )
            rel.table["foreign_keys"].append(
                _new_foreign_key(
                    {
                        "name": name,
                        "columns": columns,
                        "referred_database": self.database,
                        "referred_schema": ref_schema,
                        "referred_table": ref_table,
                        "referred_columns": referred,
                    }
                )
            )
