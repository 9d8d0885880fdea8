"""A `CatalogIndex` as bytes and back, so that the store can keep one per snapshot.

The format is an uncompressed numpy `.npz` archive (a zip): numeric arrays as `.npy` members, everything else in one
JSON member, `header`. Reading never unpickles (`allow_pickle=False`): stored bytes are data, never code. The header
names the format and its version; bytes of another format or version raise `IndexFormatError`, and the caller
rebuilds the index from its snapshot (an index is always rebuildable, so there is no migration to write).
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

from tasks.analyst_agent.search.bm25 import FieldIndex
from tasks.analyst_agent.search.graph import JoinGraph
from tasks.analyst_agent.search.index import TABLE_FIELDS, CatalogIndex
from tasks.analyst_agent.search.results import TableKey
from tasks.analyst_agent.search.values import ValueIndex

FORMAT = "taskpack.catalog-search-index"
VERSION = 1


class IndexFormatError(ValueError):
    """Bytes that are not a search index this code can read (another format or version, or damaged)."""


def _vocab_list(vocab: dict[str, int]) -> list[str]:
    terms = [""] * len(vocab)
    for term, i in vocab.items():
        if not 0 <= i < len(terms) or terms[i]:
            raise ValueError("BM25 vocabulary ids are not 0..n-1")
        terms[i] = term
    return terms


def index_to_bytes(index: CatalogIndex) -> bytes:
    arrays: dict[str, np.ndarray] = {
        "table_group": index.table_group,
        "name_term_counts": index.name_term_counts,
        "graph_indptr": index.graph.indptr,
        "graph_indices": index.graph.indices,
        "graph_kinds": index.graph.kinds,
    }
    vocabs: dict[str, list[str]] = {}
    num_docs: dict[str, int] = {}
    for name, fi in [*index.fields.items(), ("group", index.group_field)]:
        arrays[f"{name}_data"] = fi.data
        arrays[f"{name}_indices"] = fi.indices
        arrays[f"{name}_indptr"] = fi.indptr
        vocabs[name] = _vocab_list(fi.vocab)
        num_docs[name] = fi.num_docs
    if index.vectors is not None and index.model_id is not None:
        arrays["vectors"] = index.vectors
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "snapshot_id": index.snapshot_id,
        "model_id": index.model_id if index.vectors is not None else None,
        "build_seconds": index.build_seconds,
        "keys": [list(k) for k in index.keys],
        "groups": [list(g) for g in index.groups],
        "columns": index.columns,
        "vocabs": vocabs,
        "num_docs": num_docs,
        "values": {
            "num_tables": index.values.num_tables,
            "longest": index.values.longest,
            "entries": [[key, hits] for key, hits in index.values.entries.items()],
        },
        "graph_columns": index.graph.columns,
        "text_hashes": index.text_hashes,
    }
    arrays["header"] = np.frombuffer(json.dumps(header, separators=(",", ":")).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def index_from_bytes(data: bytes) -> CatalogIndex:
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        arrays = {name: archive[name] for name in archive.files}
        header = json.loads(arrays.pop("header").tobytes())
    except (
        ValueError,
        OSError,
        EOFError,
        KeyError,
        zipfile.BadZipFile,
        json.JSONDecodeError,
        UnicodeDecodeError,
    ) as error:
        raise IndexFormatError(f"not a catalog search index ({type(error).__name__})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise IndexFormatError("not a catalog search index (unknown format)")
    if header.get("version") != VERSION:
        raise IndexFormatError(f"catalog search index version {header.get('version')!r}; this code reads {VERSION}")
    try:
        return _assemble(header, arrays)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise IndexFormatError(f"damaged catalog search index ({type(error).__name__}: {error})") from None


def _field(name: str, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> FieldIndex:
    fi = FieldIndex(
        vocab={t: i for i, t in enumerate(header["vocabs"][name])},
        data=arrays[f"{name}_data"].astype(np.float32, copy=False),
        indices=arrays[f"{name}_indices"].astype(np.int32, copy=False),
        indptr=arrays[f"{name}_indptr"].astype(np.int64, copy=False),
        num_docs=int(header["num_docs"][name]),
    )
    if (
        len(fi.indptr) != len(fi.vocab) + 1
        or len(fi.data) != len(fi.indices)
        or (len(fi.indptr) and fi.indptr[-1] != len(fi.data))
    ):
        raise ValueError(f"field {name} arrays disagree")
    if fi.indices.size and (fi.indices.min() < 0 or fi.indices.max() >= fi.num_docs):
        raise ValueError(f"field {name} points past its documents")
    return fi


def _assemble(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> CatalogIndex:
    keys = [TableKey(*k) for k in header["keys"]]
    n = len(keys)
    values = header["values"]
    graph = JoinGraph(
        indptr=arrays["graph_indptr"].astype(np.int64, copy=False),
        indices=arrays["graph_indices"].astype(np.int32, copy=False),
        kinds=arrays["graph_kinds"].astype(np.int8, copy=False),
        columns=list(header["graph_columns"]),
    )
    if len(graph.indptr) != n + 1 or (graph.indices.size and graph.indices.max() >= n):
        raise ValueError("join graph does not match the tables")
    vectors = arrays.get("vectors")
    if vectors is not None and vectors.shape[0] != n:
        raise ValueError("vectors do not match the tables")
    table_group = arrays["table_group"].astype(np.int32, copy=False)
    groups = [tuple(g) for g in header["groups"]]
    if len(table_group) != n or (n and table_group.max() >= len(groups)):
        raise ValueError("table groups do not match the tables")
    entries = {key: [(int(t), str(c), str(v)) for t, c, v in hits] for key, hits in values["entries"]}
    if any(not 0 <= t < n for hits in entries.values() for t, _, _ in hits):
        raise ValueError("a value points past the tables")
    fields = {name: _field(name, header, arrays) for name in TABLE_FIELDS}
    if any(fi.num_docs != n for fi in fields.values()):
        raise ValueError("a field does not index every table")
    return CatalogIndex(
        keys=keys,
        groups=groups,  # type: ignore[arg-type]
        table_group=table_group,
        columns=[list(c) for c in header["columns"]],
        fields=fields,
        group_field=_field("group", header, arrays),
        values=ValueIndex(
            entries=entries,
            num_tables=int(values["num_tables"]),
            longest=int(values["longest"]),
        ),
        graph=graph,
        name_term_counts=arrays["name_term_counts"].astype(np.float32, copy=False),
        vectors=vectors.astype(np.float32, copy=False) if vectors is not None else None,
        text_hashes=list(header["text_hashes"]),
        model_id=header["model_id"] if vectors is not None else None,
        snapshot_id=header["snapshot_id"],
        build_seconds=float(header["build_seconds"]),
    )
