"""invoice list sorted by customer at scale: customers by lower(name) then id, invoices by customer then id

Revision ID: c4d81f0e6a27
Revises: 3d64b5217f49
Create Date: 2026-12-04 13:50:00.000000

With both, PostgreSQL walks customers in name order and each one's invoices in id order (a nested loop
with an incremental sort) and stops after a page, where it sorted all 100,000 joined rows before.
ix_invoices_customer replaces ix_invoices_customer_id: the same lookups, plus the order within a customer.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4d81f0e6a27'
down_revision = '3d64b5217f49'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_customers_lower_name', 'customers', [sa.text('lower(name)'), 'id'], unique=False)
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_customer', ['customer_id', 'id'], unique=False)
        batch_op.drop_index('ix_invoices_customer_id')


def downgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_customer_id', ['customer_id'], unique=False)
        batch_op.drop_index('ix_invoices_customer')
    op.drop_index('ix_customers_lower_name', table_name='customers')
