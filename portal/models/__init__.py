"""The database models. Import from here: `from portal.models import Invoice`."""
from .audit import AuditEvent
from .invoices import (
    FINAL_STATUSES,
    STATUSES,
    TRANSITIONS,
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceSequence,
    InvoiceStateError,
    TaxRate,
)
from .mail import OutboxMessage, ReminderOptOut
from .merchant import MerchantSetting
from .ledger import (Dispute, Job, Payment, PaymentMismatch, ProcessedEvent, Refund, WebhookDelivery,
                     WebhookTransmission)
from .payments import (
    LIVE_STATUSES,
    GatewayAttempt,
    GatewaySetting,
    LinkClick,
    PaymentLink,
    RoutingRule,
)
from .statistics import StatisticsDaily, StatisticsRollup
from .types import utcnow
from .users import ROLES, ApiToken, User, generate_password, normalize_email

__all__ = [
    "ApiToken", "AuditEvent", "OutboxMessage", "ReminderOptOut", "MerchantSetting", "GatewayAttempt", "GatewaySetting", "LIVE_STATUSES", "LinkClick",
    "PaymentLink", "RoutingRule", "StatisticsDaily", "StatisticsRollup", "Dispute", "Job", "Payment", "Refund", "PaymentMismatch", "ProcessedEvent", "WebhookDelivery", "WebhookTransmission", "Customer", "FINAL_STATUSES", "Invoice", "InvoiceLine", "InvoiceSequence",
    "InvoiceStateError", "ROLES", "STATUSES", "TaxRate", "TRANSITIONS", "User", "generate_password",
    "normalize_email", "utcnow",
]
