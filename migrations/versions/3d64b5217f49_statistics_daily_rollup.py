"""statistics: daily rollup per merchant day, gateway and currency; indexes for the live part

Revision ID: 3d64b5217f49
Revises: 437cf95d9348
Create Date: 2026-12-02 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import portal.models.types


# revision identifiers, used by Alembic.
revision = '3d64b5217f49'
down_revision = '437cf95d9348'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'statistics_daily',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('gateway', sa.String(length=20), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('metric', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'gateway', 'currency', 'metric', 'key'),
    )
    with op.batch_alter_table('statistics_daily', schema=None) as batch_op:
        batch_op.create_index('ix_statistics_daily_day_metric', ['day', 'metric'], unique=False)
    op.create_table(
        'statistics_rollup',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('time_zone', sa.String(length=64), nullable=False),
        sa.Column('rolled_through', sa.Date(), nullable=True),
        sa.Column('updated_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('gateway_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_gateway_attempts_created_at', ['created_at'], unique=False)
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_payment_link_id', ['payment_link_id'], unique=False)


def downgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_payment_link_id')
    with op.batch_alter_table('gateway_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_gateway_attempts_created_at')
    op.drop_table('statistics_rollup')
    with op.batch_alter_table('statistics_daily', schema=None) as batch_op:
        batch_op.drop_index('ix_statistics_daily_day_metric')
    op.drop_table('statistics_daily')
