"""The demo warehouse: an online shop's analytics data in a local DuckDB file, built deterministically from a seed.

warehouse.py  build_demo_warehouse(path, seed) -> DemoStats; demo_credentials(path) for registering it as a source
schema.py     tables, keys, column comments and views (DuckDB DDL)
generate.py   the rows, from one seeded random.Random
timeline.py   the fixed two-year window ending on REFERENCE_DATE (2025-06-30) and its seasonality
"""

from demo.timeline import REFERENCE_DATE, START_DATE
from demo.warehouse import DEFAULT_SEED, DemoStats, build_demo_warehouse, demo_credentials

__all__ = ["DEFAULT_SEED", "REFERENCE_DATE", "START_DATE", "DemoStats", "build_demo_warehouse", "demo_credentials"]
