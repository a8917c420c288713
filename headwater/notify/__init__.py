"""Notifications: rules matched against events, signed webhooks, a delivery log.

Producers call `publish(project, NotificationEvent(...))`: it never raises, does nothing
(no DB access) when no rule matches, and sends each event id once.
"""

from headwater.notify.delivery import (
    INLINE_RETRY_SECONDS,
    DeliveryResult,
    deliver_due,
    matching_rules,
    publish,
    send_test,
)
from headwater.notify.events import NotificationEvent

__all__ = [
    "INLINE_RETRY_SECONDS",
    "DeliveryResult",
    "NotificationEvent",
    "deliver_due",
    "matching_rules",
    "publish",
    "send_test",
]
