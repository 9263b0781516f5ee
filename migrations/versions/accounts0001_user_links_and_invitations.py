"""accounts: single-use invitation and password-reset links; users.invited_at, accepted_at

Revision ID: accounts0001
Revises: mail0001
Create Date: 2026-11-22 06:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'accounts0001'
down_revision = 'perf0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invited_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        'user_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=10), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("purpose IN ('invite', 'reset')", name=op.f('ck_user_links_purpose')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_links_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_links')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_user_links_token_hash')),
    )
    with op.batch_alter_table('user_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_links_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('user_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_links_user_id'))
    op.drop_table('user_links')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('accepted_at')
        batch_op.drop_column('invited_at')
