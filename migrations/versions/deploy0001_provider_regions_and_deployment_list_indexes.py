"""deploy: the provider's regions (synced), indexes for the deployment list's sort orders

Revision ID: deploy0001
Revises: twins0001
Create Date: 2026-11-22 08:10:00

Before the first sync the table is empty and the portal offers DigitalOcean's published
regions (portal/provider/regions.py); the first ``provider sync`` stores the provider's list.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'deploy0001'
down_revision = 'twins0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'provider_regions',
        sa.Column('slug', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('available', sa.Boolean(), nullable=False),
        sa.Column('sizes', sa.JSON(), nullable=False),
        sa.Column('features', sa.JSON(), nullable=False),
        sa.Column('provider', sa.String(length=20), nullable=False),
        sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('slug', name=op.f('pk_provider_regions')),
    )
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.create_index('ix_deployments_name_id', ['name', 'id'], unique=False)
        batch_op.create_index('ix_deployments_status_id', ['status', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.drop_index('ix_deployments_status_id')
        batch_op.drop_index('ix_deployments_name_id')
    op.drop_table('provider_regions')
