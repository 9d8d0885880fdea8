"""The `introspect-data` task: catalog (and profiles) of a data source, saved as a snapshot. See README.md."""

from tasks.introspect_data.interfaces import IntrospectDataInput, IntrospectDataOutput
from tasks.introspect_data.snapshots import latest_snapshot, list_snapshots, register_data_source, save_snapshot
from tasks.introspect_data.task import introspect_data, introspect_data_scheduled

__all__ = [
    "IntrospectDataInput",
    "IntrospectDataOutput",
    "introspect_data",
    "introspect_data_scheduled",
    "latest_snapshot",
    "list_snapshots",
    "register_data_source",
    "save_snapshot",
]
