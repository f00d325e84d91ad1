"""An index on lower(name), so the case-insensitive list order needs no sort and search reads only the index.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_connectors_lower_name", "connectors", [sa.text("lower(name)"), "name", "connector_type_id", "id"])


def downgrade():
    op.drop_index("ix_connectors_lower_name", table_name="connectors")
