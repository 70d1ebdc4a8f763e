"""The webhook delivery log kept in the state store, so replays are refused across restarts
and across engines sharing one database (``reconciler.intake.DeliveryLog``).

``Catalog.first_delivery`` is the atomic claim; ``seen`` and ``forget`` are plain reads and
deletes of the same table, which the state store does not offer yet.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from state.catalog import Catalog
from state.models import WebhookDelivery


class StoreDeliveryLog:
    """``DeliveryLog`` over the state store's ``webhook_deliveries`` table."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.database = catalog.database

    def seen(self, delivery_id: str, *, provider: str) -> bool:
        with self.database.read() as session:
            found = session.scalars(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.provider == provider,
                    WebhookDelivery.delivery_id == delivery_id,
                )
            ).first()
            return found is not None

    def record(self, delivery_id: str, *, provider: str, body_digest: str) -> bool:
        return self.catalog.first_delivery(provider, delivery_id, body_digest=body_digest)

    def forget(self, delivery_id: str, *, provider: str) -> None:
        with self.database.write() as session:
            session.execute(
                delete(WebhookDelivery).where(
                    WebhookDelivery.provider == provider,
                    WebhookDelivery.delivery_id == delivery_id,
                )
            )
