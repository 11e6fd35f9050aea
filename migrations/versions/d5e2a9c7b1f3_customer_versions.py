"""customer versions: editing a customer with issued invoices adds a version, older ones point at it

Revision ID: d5e2a9c7b1f3
Revises: e5b8d1f04a21
Create Date: 2026-12-02 03:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd5e2a9c7b1f3'
down_revision = 'e5b8d1f04a21'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('current_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_customers_current_id'), ['current_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_customers_current_id_customers'), 'customers',
                                    ['current_id'], ['id'])


def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_customers_current_id_customers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_customers_current_id'))
        batch_op.drop_column('current_id')
