"""Indexes for keyset paging: each order the connector list offers has one of exactly its columns.

By name: (lower(name), name, connector_type_id, id) is ix_connectors_lower_name (0004). By type: this one.
It replaces ix_connectors_type_name (type, name, id), and ix_connectors_name_type (name, type, id) goes
too: nothing orders by the raw name first any more, and every index costs each write.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_connectors_type_lower_name", "connectors",
                    ["connector_type_id", sa.text("lower(name)"), "name", "id"])
    op.drop_index("ix_connectors_type_name", table_name="connectors")
    op.drop_index("ix_connectors_name_type", table_name="connectors")


def downgrade():
    op.create_index("ix_connectors_name_type", "connectors", ["name", "connector_type_id", "id"])
    op.create_index("ix_connectors_type_name", "connectors", ["connector_type_id", "name", "id"])
    op.drop_index("ix_connectors_type_lower_name", table_name="connectors")
