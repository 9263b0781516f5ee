"""deliv: an index for a webhook's deliveries of one status in event order

Revision ID: deliv0001
Revises: deploy0001
Create Date: 2026-11-22 11:40:00

The deliveries list filters by status and pages by event id (keyset), and "redeliver all
failed" reads a webhook's failed deliveries in event order: (webhook_id, status, event_id)
serves both. The unfiltered list is read from the (webhook_id, event_id) unique index.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'deliv0001'
down_revision = 'deploy0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_webhook_status_event',
                              ['webhook_id', 'status', 'event_id'], unique=False)


def downgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_webhook_status_event')
