"""usage_daily: usage per deployment, resource kind and UTC day, kept at ingest

Revision ID: perf0001
Revises: idem0001
Create Date: 2026-11-22 05:55:00

The table is filled from the events already stored, so the rollup's reads (which now go to
the aggregate) see exactly what they saw before the upgrade.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'perf0001'
down_revision = 'jobs0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('usage_daily',
    sa.Column('deployment_id', sa.Integer(), nullable=False),
    sa.Column('resource_kind', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('total_qty', sa.Numeric(precision=38, scale=6), nullable=False),
    sa.Column('peak_qty', sa.Numeric(precision=24, scale=6), nullable=False),
    sa.Column('events', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint("resource_kind IN ('droplet_hours', 'llm_tokens', 'spaces_gb')", name=op.f('ck_usage_daily_resource_kind')),
    sa.CheckConstraint('events > 0', name=op.f('ck_usage_daily_events_positive')),
    sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'], name=op.f('fk_usage_daily_deployment_id_deployments')),
    sa.PrimaryKeyConstraint('deployment_id', 'resource_kind', 'day', name=op.f('pk_usage_daily'))
    )
    if op.get_bind().dialect.name == 'postgresql':
        day = "(occurred_at AT TIME ZONE 'UTC')::date"
    else:  # SQLite stores the UTC wall time as text
        day = "date(occurred_at)"
    op.execute(
        "INSERT INTO usage_daily (deployment_id, resource_kind, day, total_qty, peak_qty, events) "
        f"SELECT deployment_id, resource_kind, {day}, sum(quantity), max(quantity), count(*) "
        f"FROM usage_events GROUP BY deployment_id, resource_kind, {day}"
    )


def downgrade():
    op.drop_table('usage_daily')
