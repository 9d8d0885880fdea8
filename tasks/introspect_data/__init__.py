"""The `introspect-data` task: catalog (and profiles) of a data source, saved as a snapshot. See README.md."""

from tasks.introspect_data.interfaces import IntrospectDataInput, IntrospectDataOutput
from tasks.introspect_data.task import introspect_data, introspect_data_scheduled

__all__ = [
    "IntrospectDataInput",
    "IntrospectDataOutput",
    "introspect_data",
    "introspect_data_scheduled",
]
