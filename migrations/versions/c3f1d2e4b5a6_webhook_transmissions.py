"""webhook transmissions: each signed PayPal transmission id is good for one body

Revision ID: c3f1d2e4b5a6
Revises: c4d1e8b5f2a0
Create Date: 2026-12-02 03:15:00.000000

"""
from alembic import op
import sqlalchemy as sa

import portal.models.types


# revision identifiers, used by Alembic.
revision = 'c3f1d2e4b5a6'
down_revision = 'c4d1e8b5f2a0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('webhook_transmissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gateway', sa.String(length=20), nullable=False),
    sa.Column('transmission_id', sa.String(length=100), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('received_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_transmissions')),
    sa.UniqueConstraint('gateway', 'transmission_id', name='uq_webhook_transmissions_gateway_transmission_id')
    )
    with op.batch_alter_table('webhook_transmissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_transmissions_received_at'), ['received_at'], unique=False)


def downgrade():
    with op.batch_alter_table('webhook_transmissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_transmissions_received_at'))

    op.drop_table('webhook_transmissions')
