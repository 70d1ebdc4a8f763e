"""Every table of the state store, importable from one place; Alembic compares against these."""

from state.models.access import (
    ApiToken,
    IdempotencyRecord,
    PlanApproval,
    RepositoryRegistration,
    SiteGrant,
)
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
from state.models.previews import MergeVerdictRow, PreviewedPlan, ReviewMerge

__all__ = [
    "ApiToken",
    "AppliedResource",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "Base",
    "DriftReport",
    "DriftStatus",
    "Environment",
    "IdempotencyRecord",
    "Lease",
    "MergeVerdictRow",
    "OutboxEvent",
    "Plan",
    "PlanApproval",
    "PreviewedPlan",
    "Repository",
    "RepositoryRegistration",
    "ReviewMerge",
    "Revision",
    "Run",
    "RunStatus",
    "SiteGrant",
    "Tenant",
    "UtcDateTime",
    "WebhookDelivery",
    "WorkItem",
    "WorkStatus",
]
