"""email: the message log (email_messages) and tenants.billing_email

Revision ID: mail0001
Revises: 77f521f47ebf
Create Date: 2026-11-22 05:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'mail0001'
down_revision = 'auth0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('billing_email', sa.String(length=254), nullable=True))

    op.create_table(
        'email_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('to_address', sa.String(length=254), nullable=True),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('attachments', sa.JSON(), nullable=False),
        sa.Column('invoice_id', sa.Integer(), nullable=True),
        sa.Column('tenant_id', sa.Integer(), nullable=True),
        sa.Column('stage', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('invoice_issued', 'credit_note_issued', 'reminder', 'invitation', 'password_reset')",
            name=op.f('ck_email_messages_kind')),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'not_sent', 'failed', 'skipped')",
            name=op.f('ck_email_messages_status')),
        sa.CheckConstraint("(kind = 'reminder') = (stage IS NOT NULL)",
                           name=op.f('ck_email_messages_stage_for_reminders')),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'],
                                name=op.f('fk_email_messages_invoice_id_invoices')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name=op.f('fk_email_messages_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_email_messages')),
    )
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.create_index('ix_email_messages_created_at', ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_messages_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_messages_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('uq_email_messages_reminder_stage', ['invoice_id', 'kind', 'stage'],
                              unique=True, postgresql_where=sa.text('stage IS NOT NULL'),
                              sqlite_where=sa.text('stage IS NOT NULL'))


def downgrade():
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.drop_index('uq_email_messages_reminder_stage',
                            postgresql_where=sa.text('stage IS NOT NULL'),
                            sqlite_where=sa.text('stage IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_email_messages_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_email_messages_invoice_id'))
        batch_op.drop_index('ix_email_messages_created_at')
    op.drop_table('email_messages')
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('billing_email')
