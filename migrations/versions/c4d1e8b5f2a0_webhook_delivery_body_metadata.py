"""webhook deliveries: body size, SHA-256 and truncation flag; processed events outlive their delivery

Revision ID: c4d1e8b5f2a0
Revises: c41e7a9d2b10
Create Date: 2026-12-02 03:20:00

"""
import hashlib

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4d1e8b5f2a0'
down_revision = 'c41e7a9d2b10'
branch_labels = None
depends_on = None

deliveries = sa.table('webhook_deliveries', sa.column('id', sa.Integer), sa.column('body', sa.LargeBinary),
                      sa.column('body_sha256', sa.String))


def upgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_size', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('body_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('body_truncated', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('processed_events', schema=None) as batch_op:
        batch_op.alter_column('delivery_id', existing_type=sa.Integer(), nullable=True)

    # Rows stored so far were kept whole: fill in their size and hash, a batch at a time.
    conn = op.get_bind()
    conn.execute(sa.text('UPDATE webhook_deliveries SET body_size = length(body)'))
    last = 0
    while True:
        rows = conn.execute(sa.select(deliveries.c.id, deliveries.c.body).where(deliveries.c.id > last)
                            .order_by(deliveries.c.id).limit(500)).all()
        if not rows:
            break
        for row in rows:
            conn.execute(deliveries.update().where(deliveries.c.id == row.id)
                         .values(body_sha256=hashlib.sha256(row.body).hexdigest()))
        last = rows[-1].id


def downgrade():
    conn = op.get_bind()
    conn.execute(sa.text('DELETE FROM processed_events WHERE delivery_id IS NULL'))
    with op.batch_alter_table('processed_events', schema=None) as batch_op:
        batch_op.alter_column('delivery_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_column('body_truncated')
        batch_op.drop_column('body_sha256')
        batch_op.drop_column('body_size')
