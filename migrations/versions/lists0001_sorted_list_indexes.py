"""lists: indexes for the invoice and credit note lists sorted by total (keyset order)

Revision ID: lists0001
Revises: paging0001
Create Date: 2026-11-22 08:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'lists0001'
down_revision = 'paging0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_total_id', ['total_cents', 'id'], unique=False)
        batch_op.create_index('ix_invoices_tenant_total_id', ['tenant_id', 'total_cents', 'id'],
                              unique=False)
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.create_index('ix_credit_notes_total_id', ['total_cents', 'id'], unique=False)
        batch_op.create_index('ix_credit_notes_tenant_total_id',
                              ['tenant_id', 'total_cents', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_notes_tenant_total_id')
        batch_op.drop_index('ix_credit_notes_total_id')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_invoices_tenant_total_id')
        batch_op.drop_index('ix_invoices_total_id')
