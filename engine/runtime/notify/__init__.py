"""Notifications: delivering rendered messages by e-mail and to chat/webhook channels."""

from __future__ import annotations

from .channels import Deliverer, DeliveryError, Message
from .settings import NotifySettings, SettingsError, SmtpSettings, WebhookSettings, load_settings

__all__ = [
    "Deliverer",
    "DeliveryError",
    "Message",
    "NotifySettings",
    "SettingsError",
    "SmtpSettings",
    "WebhookSettings",
    "load_settings",
]
