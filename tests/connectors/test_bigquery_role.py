"""BigQuery role capabilities through the real google-cloud-bigquery client.

crucible has no tables.testIamPermissions (it answers 501): against it the table capabilities must stay unknown,
with the reason, and the connection test stay ok (test_bigquery_crucible.py, beside the session's crucible). The
permission walk runs against the replay endpoint
(bigquery_replay.py), which answers datasets.list / datasets.get / tables.list and tables.testIamPermissions as
BigQuery's REST API documents them (testIamPermissions returns the subset of the asked permissions the caller
holds). Dataset access lists are read with the client's own AccessEntry objects.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("google.cloud.bigquery")

from google.cloud import bigquery  # noqa: E402

from tests.connectors.bigquery_replay import ReplayBigQuery, replay_bigquery  # noqa: F401,E402

from connectors import connect  # noqa: E402
from connectors.bigquery.role import MAX_TABLES, PERMISSIONS, dataset_writes, principal_of  # noqa: E402


def role_of(replay: ReplayBigQuery, **overrides: Any) -> Any:
    with connect({"type": "bigquery", "project_id": "replay-project", "api_endpoint": replay.endpoint, **overrides}) as conn:
        test = conn.test_connection()
    assert test.ok, test.error
    return test.role


def test_tables_without_write_permissions_leave_the_role_unknown_not_read_only(replay_bigquery: ReplayBigQuery) -> None:
    replay_bigquery.datasets = {"sales": {"tables": {"orders": [], "customers": ["bigquery.tables.getData"]}}}
    report = role_of(replay_bigquery)
    assert replay_bigquery.permission_checks == ["sales.orders", "sales.customers"]
    assert report.can_write is None and report.read_only is None  # other datasets and the project were not asked
    assert report.read_only_session is False
    assert "tested 2 table(s) with testIamPermissions; other tables were not asked" in report.findings


def test_write_export_and_iam_permissions_on_a_table_are_reported(replay_bigquery: ReplayBigQuery) -> None:
    replay_bigquery.datasets = {
        "sales": {"tables": {"orders": ["bigquery.tables.updateData", "bigquery.tables.export", "bigquery.tables.setIamPolicy"]}},
        "hr": {"tables": {"people": []}},
    }
    report = role_of(replay_bigquery)
    assert report.can_write is True and report.read_only is False
    assert report.write_grants == ["bigquery.tables.updateData on table sales.orders: may change its rows"]
    assert report.can_write_server_files is True and report.can_manage_roles is True
    assert report.superuser is None and report.can_signal_sessions is None


def test_default_dataset_is_the_one_asked_and_tables_are_capped(replay_bigquery: ReplayBigQuery) -> None:
    tables = {f"t{i:02d}": [] for i in range(MAX_TABLES + 5)}
    replay_bigquery.datasets = {"other": {"tables": {"x": ["bigquery.tables.delete"]}}, "sales": {"tables": tables}}
    report = role_of(replay_bigquery, default_dataset="sales")
    assert len(replay_bigquery.permission_checks) == MAX_TABLES
    assert all(check.startswith("sales.") for check in replay_bigquery.permission_checks)
    assert report.can_write is None  # `other` (where the principal could delete) was not asked


def test_permissions_asked_are_the_documented_ones(replay_bigquery: ReplayBigQuery) -> None:
    assert set(PERMISSIONS) == {
        "bigquery.tables.updateData", "bigquery.tables.update", "bigquery.tables.delete",
        "bigquery.tables.setIamPolicy", "bigquery.tables.export",
    }


def test_dataset_access_entries_naming_the_principal_with_a_writing_role() -> None:
    entries = [
        bigquery.AccessEntry(role="READER", entity_type="userByEmail", entity_id="reader@p.iam.gserviceaccount.com"),
        bigquery.AccessEntry(role="WRITER", entity_type="userByEmail", entity_id="Agent@p.iam.gserviceaccount.com"),
        bigquery.AccessEntry(role="roles/bigquery.dataOwner", entity_type="iamMember",
                             entity_id="serviceAccount:agent@p.iam.gserviceaccount.com"),
        bigquery.AccessEntry(role="WRITER", entity_type="specialGroup", entity_id="projectWriters"),
    ]
    assert dataset_writes("agent@p.iam.gserviceaccount.com", "sales", entries) == [
        "WRITER on dataset sales", "roles/bigquery.dataOwner on dataset sales",
    ]
    assert dataset_writes(None, "sales", entries) == []
    assert principal_of({"client_email": "agent@p.iam.gserviceaccount.com"}, None) == "agent@p.iam.gserviceaccount.com"
    assert principal_of(None, None) is None

