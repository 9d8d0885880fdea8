"""analyst-taskpack's task runtime: Trigger.dev-style tasks executed durably by DBOS.

    from runtime import task, metadata, logger, tasks, runs, Worker

This module is the whole public API; DBOS stays behind it.
"""

from runtime.backend import database_engine, secret_keyring
from runtime.config import project_root
from runtime.context import TaskContext
from runtime.definitions import Task, TaskDefinitionError, schema_task, task
from runtime.errors import (
    AbortTaskRunError,
    InputError,
    MetadataTooLargeError,
    OutsideRunError,
    PayloadError,
    RunError,
    RunNotFoundError,
    SecretDecryptError,
    SecretKeyError,
    TaskCancelledError,
    UnknownTaskError,
)
from runtime.executor_ids import ExecutorIdInUseError
from runtime.key_rotation import rotate_run_secrets
from runtime.metadata import metadata
from runtime.handles import BatchHandle, RunHandle
from runtime.models import LogEntry, Run, RunList, RunStatus, TaskRunResult
from runtime.queues import Queue
from runtime.retry import RetryConfig, RetryDecision
from runtime.runlog import logger
from runtime.runs import runs
from runtime.schedules import Schedule, ScheduledPayload, ScheduleError, schedules
from runtime.secret_key import Keyring
from runtime.triggering import BatchItem, TriggerOptionsError, tasks
from runtime.worker import Worker

__all__ = [
    "AbortTaskRunError",
    "BatchHandle",
    "BatchItem",
    "ExecutorIdInUseError",
    "InputError",
    "Keyring",
    "LogEntry",
    "MetadataTooLargeError",
    "OutsideRunError",
    "PayloadError",
    "Queue",
    "RetryConfig",
    "RetryDecision",
    "Run",
    "RunError",
    "RunHandle",
    "RunList",
    "RunNotFoundError",
    "RunStatus",
    "Schedule",
    "ScheduleError",
    "ScheduledPayload",
    "SecretDecryptError",
    "SecretKeyError",
    "Task",
    "TaskCancelledError",
    "TaskContext",
    "TaskDefinitionError",
    "TaskRunResult",
    "TriggerOptionsError",
    "UnknownTaskError",
    "Worker",
    "database_engine",
    "logger",
    "metadata",
    "project_root",
    "rotate_run_secrets",
    "runs",
    "schedules",
    "secret_keyring",
    "schema_task",
    "task",
    "tasks",
]
