"""merchant_settings: the merchant's details, currency, time zone and payment terms; payments by date

Revision ID: e5b8d1f04a21
Revises: c3f1a9b27d40
Create Date: 2026-12-02 03:45:00.000000

"""
from alembic import op
import sqlalchemy as sa

import portal.models.types


# revision identifiers, used by Alembic.
revision = 'e5b8d1f04a21'
down_revision = 'c3f1a9b27d40'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'merchant_settings',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('business_name', sa.String(length=200), nullable=False),
        sa.Column('address', sa.Text(), nullable=False),
        sa.Column('tax_id', sa.String(length=32), nullable=False),
        sa.Column('default_currency', sa.String(length=3), nullable=False),
        sa.Column('time_zone', sa.String(length=64), nullable=False),
        sa.Column('payment_terms_days', sa.Integer(), nullable=False),
        sa.Column('invoice_footer', sa.Text(), nullable=False),
        sa.Column('updated_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_merchant_settings_single_row')),
        sa.CheckConstraint('payment_terms_days >= 0', name=op.f('ck_merchant_settings_terms_not_negative')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_settings')),
    )
    # Home reads the latest payments and the last 30 days' payments by date.
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_received_at', ['received_at'], unique=False)


def downgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_received_at')
    op.drop_table('merchant_settings')
