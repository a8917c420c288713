"""The metadata DB (SQLAlchemy 2; SQLite by default, PostgreSQL through one URL setting)."""

from headwater.store.audit import AuditRecord, list_audit, record_audit
from headwater.store.consoles import ConsoleRun
from headwater.store.db import MetadataStore, store_url
from headwater.store.governance import (
    DriftBaseline,
    DriftEvent,
    MonitoringResult,
    MonitoringRun,
    RowCountSnapshot,
    StaleEpisode,
)
from headwater.store.models import (
    ApiKey,
    AuditEntry,
    Base,
    Invitation,
    LoginChallenge,
    LoginSession,
    RecoveryCode,
    SetupRecord,
    User,
)
from headwater.store.notifications import (
    NotificationAttempt,
    NotificationCursor,
    NotificationDelivery,
    NotificationEventRecord,
)
from headwater.store.pii import PiiFinding, TableProfileRecord
from headwater.store.types import UTCDateTime, utcnow

__all__ = [
    "ApiKey",
    "AuditEntry",
    "AuditRecord",
    "Base",
    "ConsoleRun",
    "DriftBaseline",
    "DriftEvent",
    "Invitation",
    "LoginChallenge",
    "LoginSession",
    "MetadataStore",
    "MonitoringResult",
    "MonitoringRun",
    "NotificationAttempt",
    "NotificationCursor",
    "NotificationDelivery",
    "NotificationEventRecord",
    "PiiFinding",
    "RecoveryCode",
    "RowCountSnapshot",
    "SetupRecord",
    "StaleEpisode",
    "TableProfileRecord",
    "UTCDateTime",
    "User",
    "list_audit",
    "record_audit",
    "store_url",
    "utcnow",
]
