"""PII findings of the scans and the last profile of each table, in the metadata DB.

Sampled values are never stored: a finding keeps the share of samples that matched and at
most one masked example (`j***@e***.com`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from headwater.store.models import Base
from headwater.store.types import utcnow


class PiiFinding(Base):
    """One PII kind found in one column of a source table by a scan."""

    __tablename__ = "pii_findings"
    __table_args__ = (UniqueConstraint("source", "table_name", "column_name", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100), index=True)
    """Source name (the table is `raw_<source>.<table_name>`)."""
    table_name: Mapped[str] = mapped_column(String(300))
    column_name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40))
    """email, phone, card_number, iban, ip_address, us_ssn, uk_nino, es_dni, pt_nif, name,
    address, birth_date or national_id (headwater.governance.pii_detectors)."""
    column_type: Mapped[str | None] = mapped_column(String(100))
    """The column's warehouse type when scanned."""
    share: Mapped[float | None] = mapped_column(Float)
    """Share of the non-empty sampled values that matched (None: values not scanned, e.g.
    a DATE column found by its name)."""
    matches: Mapped[int] = mapped_column(Integer, default=0)
    """Sampled values that matched."""
    sample_size: Mapped[int] = mapped_column(Integer, default=0)
    """Non-empty values sampled from the column."""
    name_hint: Mapped[bool] = mapped_column(default=False)
    """The column's name suggests this kind (`email`, `dob`, `first_name`, ...)."""
    masked_example: Mapped[str | None] = mapped_column(String(100))
    """One matching value, masked (`j***@e***.com`); never the value itself."""
    present: Mapped[bool] = mapped_column(default=True)
    """Found by the latest scan of the table (False: a later scan no longer found it)."""
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    """The scan that first found it."""
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    """The latest scan that found it."""
    notified_at: Mapped[datetime | None]
    """When the new_pii notification about it was published (None: not sent, e.g. the
    column is overridden as not PII)."""

    @property
    def new(self) -> bool:
        """Found for the first time by the latest scan that found it."""
        return self.present and self.first_seen_at == self.detected_at


class TableProfileRecord(Base):
    """The last profile of a source table (one row per table, replaced by each profile)."""

    __tablename__ = "table_profiles"
    __table_args__ = (UniqueConstraint("source", "table_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100), index=True)
    table_name: Mapped[str] = mapped_column(String(300))
    profiled_at: Mapped[datetime] = mapped_column(default=utcnow)
    row_count: Mapped[int] = mapped_column(Integer)
    columns_json: Mapped[str] = mapped_column(Text)
    """The column profiles as JSON (headwater.governance.profiling.ColumnProfile)."""


def table_findings(session: Session, source: str, table: str) -> list[PiiFinding]:
    """Every finding ever recorded for one table (present or not)."""
    return list(
        session.scalars(
            select(PiiFinding).where(PiiFinding.source == source, PiiFinding.table_name == table)
        )
    )


def present_findings(
    session: Session, source: str | None = None, table: str | None = None
) -> list[PiiFinding]:
    """Findings of the latest scans, optionally of one source and table, in a stable order."""
    query = select(PiiFinding).where(PiiFinding.present.is_(True))
    if source is not None:
        query = query.where(PiiFinding.source == source)
    if table is not None:
        query = query.where(PiiFinding.table_name == table)
    order = (PiiFinding.source, PiiFinding.table_name, PiiFinding.column_name, PiiFinding.kind)
    return list(session.scalars(query.order_by(*order)))


def load_profile(session: Session, source: str, table: str) -> TableProfileRecord | None:
    """The last stored profile of a table, if any."""
    return session.scalar(
        select(TableProfileRecord).where(
            TableProfileRecord.source == source, TableProfileRecord.table_name == table
        )
    )
