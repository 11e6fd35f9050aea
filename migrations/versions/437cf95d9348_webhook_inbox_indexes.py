"""webhook inbox indexes: deliveries by gateway and by outcome, newest first; open links per gateway

Revision ID: 437cf95d9348
Revises: b7e4c2a91d08
Create Date: 2026-12-02 10:20:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '437cf95d9348'
down_revision = 'b7e4c2a91d08'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_gateway_received', ['gateway', 'received_at'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_outcome_received', ['outcome', 'received_at'], unique=False)
    with op.batch_alter_table('payment_links', schema=None) as batch_op:
        batch_op.create_index('ix_payment_links_status_gateway', ['status', 'gateway'], unique=False)


def downgrade():
    with op.batch_alter_table('payment_links', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_links_status_gateway')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_outcome_received')
        batch_op.drop_index('ix_webhook_deliveries_gateway_received')
