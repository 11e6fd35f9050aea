"""users.session_version: ending every session of a user

Revision ID: c41e7a9d2b10
Revises: a7c92c3e35d6
Create Date: 2026-12-02 03:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c41e7a9d2b10'
down_revision = 'a7c92c3e35d6'
branch_labels = None
depends_on = None


def upgrade():
    # Existing sessions carry a bare "<id>"; they stop matching and those users sign in once more.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
