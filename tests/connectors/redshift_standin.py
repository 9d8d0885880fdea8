"""Stand-ins for Redshift's system views, built in PostgreSQL so the Redshift catalog queries can run for real.

No Redshift can run here, and `redshift-connector` cannot talk to a plain PostgreSQL server. What can be tested
honestly is that the SQL the Redshift connector sends is valid, reads the columns Redshift documents, and that the
Python that assembles the answers is right. So each view below has exactly the columns (names, order, types) of the
Redshift documentation page it stands in for, filled from PostgreSQL's own catalog:

- SVV_ALL_TABLES  (database_name, schema_name, table_name, table_acl, table_type, remarks)
  https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_ALL_TABLES.html — table_type TABLE / VIEW / EXTERNAL TABLE;
  PostgreSQL foreign tables play Spectrum external tables.
- SVV_ALL_COLUMNS (database_name, schema_name, table_name, column_name, ordinal_position, column_default,
  is_nullable, data_type, character_maximum_length, numeric_precision, numeric_scale, remarks)
  https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_ALL_COLUMNS.html — from information_schema.columns, which
  splits types from their modifiers the same way.
- SVV_TABLE_INFO  (database, schema, table_id, table, encoded, diststyle, sortkey1, max_varchar, sortkey1_enc,
  sortkey_num, size, pct_used, empty, unsorted, stats_off, tbl_rows, skew_sortkey1, skew_rows,
  estimated_visible_rows, risk_event, vacuum_sort_benefit, create_time)
  https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_TABLE_INFO.html — size in 1 MB blocks, empty tables left
  out, as documented.
- SVV_MV_INFO     (database_name, schema_name, user_name, name, is_stale, state, autorewrite, autorefresh)
  https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_MV_INFO.html — char(128) columns, blank-padded like
  Redshift's.

`pg_constraint`, `pg_class`, `pg_namespace`, `pg_views` and `pg_get_constraintdef()` exist in both systems and are
used as they are. The views live in schema `cpg_rs_standin`, which the test connector puts first on its search_path
(on Redshift the real views sit in pg_catalog).
"""

from __future__ import annotations

from typing import Any

import psycopg

STANDIN_SCHEMA = "cpg_rs_standin"

STANDIN_DDL = [
    f"DROP SCHEMA IF EXISTS {STANDIN_SCHEMA} CASCADE",
    f"CREATE SCHEMA {STANDIN_SCHEMA}",
    f"""CREATE VIEW {STANDIN_SCHEMA}.svv_all_tables AS
        SELECT current_database()::varchar(128)                  AS database_name,
               n.nspname::varchar(128)                            AS schema_name,
               c.relname::varchar(128)                            AS table_name,
               array_to_string(c.relacl, ',')::varchar(128)       AS table_acl,
               (CASE c.relkind WHEN 'f' THEN 'EXTERNAL TABLE'
                               WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'VIEW'
                               ELSE 'TABLE' END)::varchar(128)    AS table_type,
               obj_description(c.oid, 'pg_class')::varchar(256)   AS remarks
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition""",
    f"""CREATE VIEW {STANDIN_SCHEMA}.svv_all_columns AS
        SELECT col.table_catalog::varchar(128)                   AS database_name,
               col.table_schema::varchar(128)                    AS schema_name,
               col.table_name::varchar(128)                      AS table_name,
               col.column_name::varchar(128)                     AS column_name,
               col.ordinal_position::integer                     AS ordinal_position,
               col.column_default::varchar(4000)                 AS column_default,
               col.is_nullable::varchar(3)                       AS is_nullable,
               col.data_type::varchar(128)                       AS data_type,
               col.character_maximum_length::integer             AS character_maximum_length,
               col.numeric_precision::integer                    AS numeric_precision,
               col.numeric_scale::integer                        AS numeric_scale,
               col_description(format('%I.%I', col.table_schema, col.table_name)::regclass,
                               col.ordinal_position::int)::varchar(256) AS remarks
          FROM information_schema.columns col""",
    f"""CREATE VIEW {STANDIN_SCHEMA}.svv_table_info AS
        SELECT current_database()::text                          AS "database",
               n.nspname::text                                   AS "schema",
               c.oid                                             AS table_id,
               c.relname::text                                   AS "table",
               'N'::text                                         AS encoded,
               'AUTO(EVEN)'::text                                AS diststyle,
               NULL::text                                        AS sortkey1,
               0::integer                                        AS max_varchar,
               NULL::character(32)                               AS sortkey1_enc,
               0::integer                                        AS sortkey_num,
               ceil(pg_total_relation_size(c.oid) / 1048576.0)::bigint AS size,
               0::numeric(10,4)                                  AS pct_used,
               0::bigint                                         AS empty,
               0::numeric(5,2)                                   AS unsorted,
               0::numeric(5,2)                                   AS stats_off,
               c.reltuples::numeric(38,0)                        AS tbl_rows,
               NULL::numeric(19,2)                               AS skew_sortkey1,
               1::numeric(19,2)                                  AS skew_rows,
               c.reltuples::numeric(38,0)                        AS estimated_visible_rows,
               NULL::text                                        AS risk_event,
               NULL::numeric(12,2)                               AS vacuum_sort_benefit,
               NULL::timestamp                                   AS create_time
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'm') AND c.reltuples > 0
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')""",
    f"""CREATE VIEW {STANDIN_SCHEMA}.svv_mv_info AS
        SELECT current_database()::char(128)                     AS database_name,
               m.schemaname::char(128)                           AS schema_name,
               m.matviewowner::char(128)                         AS user_name,
               m.matviewname::char(128)                          AS name,
               'f'::char(1)                                      AS is_stale,
               0::integer                                        AS state,
               'f'::char(1)                                      AS autorewrite,
               'f'::char(1)                                      AS autorefresh
          FROM pg_matviews m""",
    f"GRANT USAGE ON SCHEMA {STANDIN_SCHEMA} TO PUBLIC",
    f"GRANT SELECT ON {STANDIN_SCHEMA}.svv_all_tables, {STANDIN_SCHEMA}.svv_all_columns, {STANDIN_SCHEMA}.svv_mv_info TO PUBLIC",
    # like Redshift: SVV_TABLE_INFO only for superusers unless granted
    f"REVOKE ALL ON {STANDIN_SCHEMA}.svv_table_info FROM PUBLIC",
]


def create_standin_views(admin: psycopg.Connection[Any]) -> None:
    for sql in STANDIN_DDL:
        admin.execute(sql)
