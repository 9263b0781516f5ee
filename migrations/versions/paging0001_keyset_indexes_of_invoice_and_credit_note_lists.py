"""paging: indexes for the keyset (cursor) order of the invoice and credit note lists

Revision ID: paging0001
Revises: accounts0001
Create Date: 2026-11-22 06:45:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'paging0001'
down_revision = 'accounts0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_period_id', ['period_start', 'id'], unique=False)
        batch_op.create_index('ix_invoices_tenant_period_id', ['tenant_id', 'period_start', 'id'],
                              unique=False)
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.create_index('ix_credit_notes_tenant_id_id', ['tenant_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_notes_tenant_id_id')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_invoices_tenant_period_id')
        batch_op.drop_index('ix_invoices_period_id')
