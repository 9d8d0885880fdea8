"""Catalog search for the analyst agent (work in progress)."""
from tasks.analyst_agent.search.dense import load_embedder
from tasks.analyst_agent.search.index import CatalogIndex
from tasks.analyst_agent.search.results import ColumnValues, Reason, TableHit, TableKey
