"""What the connected BigQuery principal may do beyond reading, from IAM as the client can ask it.

BigQuery privileges are IAM permissions granted on the project, the dataset or the table, inherited downwards. The
client offers one question that sums all three up: `tables.testIamPermissions` ("which of these permissions do I
hold on this table?", `Client.test_iam_permissions`). So the tables of the default dataset (or of the first datasets
listed when none is set) are asked, at most MAX_TABLES of them, for the permissions below; and the datasets' access
lists are read for the principal's own email with a writing role (which lets it create tables there).

What this cannot say, and stays unknown: project-level rights that do not show on a table (creating datasets,
canceling other principals' jobs with bigquery.jobs.update, changing reservations), rights reached through groups
in dataset access lists, and external tables over Cloud Storage. A role that holds nothing on the tables tested is
therefore `read_only=None`, never True; a write found anywhere makes it False. Emulators without
testIamPermissions (crucible answers 501) leave the table capabilities unknown, with the reason.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from connectors.capabilities import RoleCapabilities, RoleReport

#: at most this many tables are asked (one API call each), from at most MAX_DATASETS datasets
MAX_TABLES = 10
MAX_DATASETS = 3
#: permissions asked on each table, and what holding one means
PERMISSIONS: dict[str, tuple[str, str]] = {
    "bigquery.tables.updateData": ("can_write", "may change its rows"),
    "bigquery.tables.update": ("can_write", "may change its schema or metadata"),
    "bigquery.tables.delete": ("can_write", "may delete it"),
    "bigquery.tables.setIamPolicy": ("can_manage_roles", "may grant access to it"),
    "bigquery.tables.export": ("can_write_server_files", "may export it to Cloud Storage"),
}
#: dataset access-list roles that let the holder create, change and delete tables in the dataset
DATASET_WRITE_ROLES = {"WRITER", "OWNER", "roles/bigquery.dataEditor", "roles/bigquery.dataOwner", "roles/bigquery.admin"}


def principal_of(service_account_info: Mapping[str, Any] | None, credentials: Any) -> str | None:
    """The principal's email: the key's client_email, else what the credentials object knows (ADC)."""
    if service_account_info and service_account_info.get("client_email"):
        return str(service_account_info["client_email"])
    email = getattr(credentials, "service_account_email", None)
    return email if isinstance(email, str) and "@" in email else None


def dataset_writes(principal: str | None, dataset: str, entries: Iterable[Any]) -> list[str]:
    """'WRITER on dataset d' for each access entry naming the principal's own email with a writing role."""
    if principal is None:
        return []
    found = []
    for entry in entries:
        role = getattr(entry, "role", None)
        entity = str(getattr(entry, "entity_id", "") or "")
        if role in DATASET_WRITE_ROLES and entity.lower().removeprefix("serviceaccount:").removeprefix("user:") == principal.lower():
            found.append(f"{role} on dataset {dataset}")
    return found


def read_role(
    principal: str | None,
    table_permissions: Mapping[str, Sequence[str]],
    writes_on_datasets: Sequence[str],
    *,
    untested_reason: str | None = None,
) -> RoleCapabilities:
    """The capabilities the tested tables' permissions and the datasets' access lists describe."""
    report = RoleReport(principal=principal)
    report.read_only_session = False
    for table, held in table_permissions.items():
        for permission in held:
            if permission in PERMISSIONS:
                capability, meaning = PERMISSIONS[permission]
                report.grant(capability, f"{permission} on table {table}: {meaning}")  # type: ignore[arg-type]
    for where in writes_on_datasets:
        report.grant("can_write", where)
    if untested_reason:
        report.note(f"tables not tested: {untested_reason}")
    elif table_permissions:
        report.note(f"tested {len(table_permissions)} table(s) with testIamPermissions; other tables were not asked")
    for capability, why in (
        ("superuser", "project roles (Owner, BigQuery Admin) do not show on a table"),
        ("can_read_server_files", "external tables over Cloud Storage depend on storage permissions"),
        ("can_run_server_programs", "remote functions depend on connections the project grants"),
        ("can_signal_sessions", "bigquery.jobs.update (cancel others' jobs) is a project permission"),
        ("can_change_settings", "reservations and project settings are project permissions"),
    ):
        report.cannot_say(capability, why)  # type: ignore[arg-type]
    report.note("session: BigQuery has no read-only session; the SQL guard and IAM are the defences")
    return report.result()
