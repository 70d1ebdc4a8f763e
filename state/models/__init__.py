"""Every table of the state store, importable from one place; Alembic compares against these."""

from state.models.audit import AuditCheckpoint, AuditEntry, AuditHead
from state.models.base import Base, UtcDateTime
from state.models.coordination import Lease, OutboxEvent, WebhookDelivery, WorkItem, WorkStatus
from state.models.deployments import (
    AppliedResource,
    DriftReport,
    DriftStatus,
    Environment,
    Plan,
    Repository,
    Revision,
    Run,
    RunStatus,
    Tenant,
)

__all__ = [
    "AppliedResource",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "Base",
    "DriftReport",
    "DriftStatus",
    "Environment",
    "Lease",
    "OutboxEvent",
    "Plan",
    "Repository",
    "Revision",
    "Run",
    "RunStatus",
    "Tenant",
    "UtcDateTime",
    "WebhookDelivery",
    "WorkItem",
    "WorkStatus",
]
