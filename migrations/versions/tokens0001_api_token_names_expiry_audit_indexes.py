"""api tokens: name and expiry; audit log: indexes for its filters

Revision ID: tokens0001
Revises: 77f521f47ebf
Create Date: 2026-11-22 05:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'tokens0001'
down_revision = 'idem0001'
branch_labels = None
depends_on = None


def upgrade():
    # Existing tokens (all made on the command line) are named "token"; the default is then
    # dropped so that every new token names itself.
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.String(length=100), nullable=False,
                                      server_default='token'))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('name', existing_type=sa.String(length=100), server_default=None)

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_actor', ['actor'], unique=False)
        batch_op.create_index('ix_audit_log_at', ['at'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_at')
        batch_op.drop_index('ix_audit_log_actor')

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('name')
