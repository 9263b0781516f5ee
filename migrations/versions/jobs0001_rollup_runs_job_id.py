"""rollup_runs: the job that ran each rollup, so an abandoned run can be told from a live one

Revision ID: jobs0001
Revises: 77f521f47ebf
Create Date: 2026-11-22 05:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'jobs0001'
down_revision = 'money0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('rollup_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_id', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('rollup_runs', schema=None) as batch_op:
        batch_op.drop_column('job_id')
