"""The catalog search at warehouse scale: a generated catalog of 20,000 tables x 20 columns.

Run as a script: `python bench/search_scale_bench.py [--tables 20000] [--columns 20] [--no-embeddings]`.

The catalog is generated from a seed: 200 schemas of 100 tables; table and column names are drawn from the words of
the Spider schemas (so the tokenizer and the model see real vocabulary), every table has an `id` key and two or three
`<other_table>_id` columns, half of them declared as foreign keys (the rest must be inferred), and a fifth of its text
columns carry profile values. Questions are generated from random tables (their name, two column names, sometimes a
value), so recall is only a sanity check here; the measures are index build seconds, search milliseconds p50/p95
(the public `search()` call, k=10), peak memory of the process, and the serialized index's size and round trip.
Goals: build <= 120 s, search p95 <= 200 ms, memory <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.agent_eval import percentile  # noqa: E402
from connectors.catalog import (  # noqa: E402
    Catalog,
    Column,
    ColumnProfile,
    Database,
    ForeignKey,
    Schema,
    Table,
    TableProfile,
    ValueCount,
)
from tasks.analyst_agent.search import CatalogIndex, load_embedder  # noqa: E402
from tasks.analyst_agent.search.serialize import index_from_bytes, index_to_bytes  # noqa: E402
from tasks.analyst_agent.search.text import split_identifier  # noqa: E402

POOL = Path(__file__).resolve().parents[1] / "data" / "spider-schemas"
VALUE_WORDS = [
    "north",
    "south",
    "gold",
    "silver",
    "active",
    "closed",
    "paris",
    "tokyo",
    "lima",
    "oslo",
    "premium",
    "basic",
    "urgent",
    "pending",
    "retail",
    "online",
    "europe",
    "asia",
    "alpha",
    "delta",
]


def spider_words() -> list[str]:
    words: set[str] = set()
    for path in sorted(POOL.glob("*.schema.sql")):
        for token in path.read_text(encoding="utf-8").replace("`", " ").replace(",", " ").split():
            for w in split_identifier(token):
                if w.isalpha() and 3 <= len(w) <= 12:
                    words.add(w)
    return sorted(words - {"create", "table", "primary", "foreign", "key", "references", "integer", "text", "varchar"})


def generate(tables: int, columns: int, seed: int) -> tuple[Catalog, list[TableProfile]]:
    rng = random.Random(seed)
    words = spider_words()
    per_schema = 100
    schemas: list[Schema] = []
    profiles: list[TableProfile] = []
    names_used: set[str] = set()
    all_names: list[list[str]] = []
    for s in range((tables + per_schema - 1) // per_schema):
        count = min(per_schema, tables - s * per_schema)
        names = []
        while len(names) < count:
            name = "_".join(rng.sample(words, rng.choice((1, 2, 2, 3))))
            if name not in names_used:
                names_used.add(name)
                names.append(name)
        all_names.append(names)
        schema_tables: list[Table] = []
        for t, name in enumerate(names):
            cols = [Column(ordinal=1, name="id", data_type="integer", normalized_type="integer", nullable=False)]
            fks: list[ForeignKey] = []
            for target in rng.sample([n for n in names if n != name], k=min(len(names) - 1, rng.choice((2, 3)))):
                col = f"{target}_id"
                cols.append(Column(ordinal=len(cols) + 1, name=col, data_type="integer", normalized_type="integer"))
                if rng.random() < 0.5:
                    fks.append(ForeignKey(columns=[col], referred_table=target, referred_columns=["id"]))
            while len(cols) < columns:
                col = "_".join(rng.sample(words, rng.choice((1, 2))))
                if all(c.name != col for c in cols):
                    text = rng.random() < 0.5
                    cols.append(
                        Column(
                            ordinal=len(cols) + 1,
                            name=col,
                            data_type="text" if text else "integer",
                            normalized_type="string" if text else "integer",
                        )
                    )
            schema_tables.append(Table(name=name, columns=cols, primary_key=["id"], foreign_keys=fks))
            valued = [c for c in cols if c.normalized_type == "string" and rng.random() < 0.2]
            if valued:
                profiles.append(
                    TableProfile(
                        database="warehouse",
                        schema=f"s{s:03d}",
                        table=name,
                        sampled_rows=1000,
                        sample_method="full",
                        columns=[
                            ColumnProfile(
                                name=c.name,
                                data_type="text",
                                normalized_type="string",
                                distinct_count=5,
                                top_values=[
                                    ValueCount(value=f"{rng.choice(VALUE_WORDS)} {rng.choice(words)}", count=9)
                                    for _ in range(5)
                                ],
                            )
                            for c in valued
                        ],
                    )
                )
        schemas.append(Schema(name=f"s{s:03d}", tables=schema_tables))
    return Catalog(source_type="generated", databases=[Database(name="warehouse", schemas=schemas)]), profiles


def questions_for(catalog: Catalog, profiles: list[TableProfile], n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed + 1)
    tables = list(catalog.iter_tables())
    values = {(p.schema_, p.table): p for p in profiles}
    out = []
    for _ in range(n):
        _, schema, table = rng.choice(tables)
        cols = [c.name for c in table.columns if not c.name.endswith("id")]
        picked = rng.sample(cols, 2)
        first, second, name = (" ".join(split_identifier(x)) for x in (picked[0], picked[1], table.name))
        q = f"What is the {first} and {second} of each {name}"
        profile = values.get((schema.name, table.name))
        if profile and rng.random() < 0.5:
            column = profile.columns[0]
            q += f" whose {' '.join(split_identifier(column.name))} is '{column.top_values[0].value}'"
        out.append((q + "?", f"{schema.name}.{table.name}"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=20_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-embeddings", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    catalog, profiles = generate(args.tables, args.columns, args.seed)
    generate_s = time.perf_counter() - started
    embedder = None if args.no_embeddings else load_embedder()
    if embedder is not None:
        embedder.embed(["load the model before the clock starts"])

    cpu = time.process_time()
    started = time.perf_counter()
    index = CatalogIndex.build(catalog, profiles, embedder=embedder)
    build_s = time.perf_counter() - started
    build_cpu_s = time.process_time() - cpu

    started = time.perf_counter()
    blob = index_to_bytes(index)
    save_s = time.perf_counter() - started
    started = time.perf_counter()
    loaded = index_from_bytes(blob)
    load_s = time.perf_counter() - started

    questions = questions_for(catalog, profiles, args.questions, args.seed)
    ms: list[float] = []
    hits = 0
    for question, gold in questions:
        start = time.perf_counter()
        result = loaded.search(question, 10, embedder=embedder)
        ms.append((time.perf_counter() - start) * 1000)
        hits += any(f"{h.schema_}.{h.table}" == gold for h in result[:5])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    mode = f"embeddings {embedder.model_id}" if embedder else "no embeddings"
    print(
        f"scale: {args.tables} tables x {args.columns} columns ({catalog.table_count} tables, "
        f"{sum(len(t.columns) for _, _, t in catalog.iter_tables())} columns), {len(profiles)} profiled tables; {mode}"
    )
    print(f"{'measure':<34} {'value':>10}  goal")
    rows = [
        ("generate catalog s", f"{generate_s:.1f}", ""),
        ("index build s (wall)", f"{build_s:.1f}", "<= 120"),
        ("index build s (CPU, all threads)", f"{build_cpu_s:.1f}", ""),
        ("tables embedded", f"{index.embedded_tables}", ""),
        ("serialized index MB", f"{len(blob) / 1e6:.1f}", ""),
        ("serialize s / load s", f"{save_s:.2f} / {load_s:.2f}", ""),
        ("search ms p50", f"{percentile(ms, 0.5):.1f}", ""),
        ("search ms p95", f"{percentile(ms, 0.95):.1f}", "<= 200"),
        ("search ms mean", f"{statistics.fmean(ms):.1f}", ""),
        ("peak memory MB (process RSS)", f"{peak_mb:.0f}", "<= 2048"),
        ("generated question's table in top 5", f"{hits / len(questions):.3f}", "(sanity)"),
    ]
    for name, value, goal in rows:
        print(f"{name:<34} {value:>10}  {goal}")
    print(
        "BENCH "
        + json.dumps(
            {
                "tables": catalog.table_count,
                "index_build_s": round(build_s, 2),
                "index_build_cpu_s": round(build_cpu_s, 2),
                "search_ms_p50": round(percentile(ms, 0.5), 2),
                "search_ms_p95": round(percentile(ms, 0.95), 2),
                "peak_rss_mb": round(peak_mb),
                "index_mb": round(len(blob) / 1e6, 1),
                "load_s": round(load_s, 2),
                "embeddings": embedder is not None,
                "top5_sanity": round(hits / len(questions), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
