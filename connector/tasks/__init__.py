"""The work-queue port (`port`), its embedded implementation (`inprocess`), the task bodies
(`bodies`) and the sync fan-out over the port (`fanout`)."""

from connector.tasks.port import Job
from connector.tasks.port import JobState
from connector.tasks.port import RetryPolicy
from connector.tasks.port import TaskDef
from connector.tasks.port import TaskError
from connector.tasks.port import TaskQueue
from connector.tasks.port import TaskRegistry

__all__ = ["Job", "JobState", "RetryPolicy", "TaskDef", "TaskError", "TaskQueue", "TaskRegistry"]
