"""invoice search: trigram indexes for '%text%' search on PostgreSQL (number, customer name and email)

The invoice list's search is a substring match (lower(col) LIKE '%q%') that no b-tree can serve; at
100,000 invoices it read every row. pg_trgm's GIN indexes answer it. pg_trgm ships with PostgreSQL and is
a trusted extension (13+): the database's owner may create it. SQLite keeps its plain scan.

Revision ID: b7e4c2a91d08
Revises: f1a7c3e9b2d4
Create Date: 2026-12-02 10:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7e4c2a91d08'
down_revision = 'f1a7c3e9b2d4'
branch_labels = None
depends_on = None

INDEXES = {
    "ix_invoices_number_trgm": ("invoices", "lower(number)"),
    "ix_customers_name_trgm": ("customers", "lower(name)"),
    "ix_customers_email_trgm": ("customers", "lower(email)"),
}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, expression) in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression} gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
