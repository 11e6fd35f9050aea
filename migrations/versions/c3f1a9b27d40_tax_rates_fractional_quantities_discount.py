"""tax rates, quantities in thousandths, per-line tax and an invoice discount

Revision ID: c3f1a9b27d40
Revises: c3f1d2e4b5a6
Create Date: 2026-12-02 03:40:00

Quantities become exact thousandths (1.5 -> 1500): the column is renamed and existing whole
quantities multiplied by 1000. Lines copy the tax rate's name and percent; the invoice keeps its
discount as entered (a percent in thousandths, or an amount in minor units).
"""
from alembic import op
import sqlalchemy as sa

import portal.models.types


revision = 'c3f1a9b27d40'
down_revision = 'c3f1d2e4b5a6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('tax_rates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('percent_milli', sa.Integer(), nullable=False),
    sa.Column('archived_at', portal.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portal.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('percent_milli >= 0 AND percent_milli <= 100000', name=op.f('ck_tax_rates_percent_in_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tax_rates'))
    )
    # RENAME COLUMN works alike on PostgreSQL and SQLite (3.25+), and both carry the CHECK along.
    op.execute("ALTER TABLE invoice_lines RENAME COLUMN quantity TO quantity_milli")
    op.execute("UPDATE invoice_lines SET quantity_milli = quantity_milli * 1000")
    with op.batch_alter_table('invoice_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tax_rate_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('tax_name', sa.String(length=100), server_default='', nullable=False))
        batch_op.add_column(sa.Column('tax_percent_milli', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_invoice_lines_tax_rate_id_tax_rates'), 'tax_rates',
                                    ['tax_rate_id'], ['id'])
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('discount_percent_milli', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('discount_amount_minor', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.create_check_constraint(
            batch_op.f('ck_invoices_discount_percent_in_range'),
            'discount_percent_milli >= 0 AND discount_percent_milli <= 100000')
        batch_op.create_check_constraint(batch_op.f('ck_invoices_discount_amount_not_negative'),
                                         'discount_amount_minor >= 0')


def downgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_invoices_discount_amount_not_negative'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_invoices_discount_percent_in_range'), type_='check')
        batch_op.drop_column('discount_amount_minor')
        batch_op.drop_column('discount_percent_milli')
    with op.batch_alter_table('invoice_lines', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_invoice_lines_tax_rate_id_tax_rates'), type_='foreignkey')
        batch_op.drop_column('tax_percent_milli')
        batch_op.drop_column('tax_name')
        batch_op.drop_column('tax_rate_id')
    # Fractions of a unit cannot go back to whole quantities: round them up, never to zero.
    op.execute("UPDATE invoice_lines SET quantity_milli = (quantity_milli + 999) / 1000")
    op.execute("ALTER TABLE invoice_lines RENAME COLUMN quantity_milli TO quantity")
    op.drop_table('tax_rates')
