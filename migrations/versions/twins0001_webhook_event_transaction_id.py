"""twins: webhook events record the transaction that wrote them (xid8, PostgreSQL)

The dispatcher delivers an event only once every transaction that could still write an
earlier one has finished, in (xid, id) order (see services/webhooks.py). SQLite has no
transaction ids: the column is there and stays NULL, and delivery keeps id order.

Revision ID: twins0001
Revises: lists0001
Create Date: 2026-11-22 08:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'twins0001'
down_revision = 'lists0001'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # Rows already there take the migration's own id: they sort before anything later.
        op.execute("ALTER TABLE webhook_events ADD COLUMN xid xid8 DEFAULT pg_current_xact_id()")
    else:
        with op.batch_alter_table('webhook_events', schema=None) as batch_op:
            batch_op.add_column(sa.Column('xid', sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_column('xid')
