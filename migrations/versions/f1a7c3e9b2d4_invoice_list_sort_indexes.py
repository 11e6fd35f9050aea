"""invoice list sort indexes: due date and amount (within currency), each ending on the id

Revision ID: f1a7c3e9b2d4
Revises: d5e2a9c7b1f3
Create Date: 2026-12-02 04:05:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f1a7c3e9b2d4'
down_revision = 'd5e2a9c7b1f3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_due', ['due_date', 'id'], unique=False)
        batch_op.create_index('ix_invoices_currency_total', ['currency', 'total_minor', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_invoices_currency_total')
        batch_op.drop_index('ix_invoices_due')
