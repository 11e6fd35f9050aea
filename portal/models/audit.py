"""Who did what to which invoice, user or setting, and when."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow
from .users import User


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_subject", "subject_type", "subject_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Kept as text too, so the trail still reads right if the user is renamed or removed.
    actor_label: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column()
    summary: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[User | None] = relationship()

    @classmethod
    def record(cls, actor: User | None, action: str, subject_type: str, subject_id: int | None,
               summary: str = "", via: str | None = None) -> AuditEvent:
        label = actor.email if actor is not None else "system"
        if via:
            label = f"{label} ({via})"
        event = cls(actor=actor, actor_label=label, action=action, subject_type=subject_type,
                    subject_id=subject_id, summary=summary)
        db.session.add(event)
        return event

    @classmethod
    def for_subject(cls, subject_type: str, subject_id: int) -> list[AuditEvent]:
        return list(
            db.session.scalars(
                db.select(cls)
                .where(cls.subject_type == subject_type, cls.subject_id == subject_id)
                .order_by(cls.created_at.desc(), cls.id.desc())
            )
        )
