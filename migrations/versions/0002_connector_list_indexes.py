"""Composite indexes for the connector list: search and sort read the index, not every row.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("connectors") as batch_op:
        batch_op.drop_index("ix_connectors_name")
        batch_op.drop_index("ix_connectors_connector_type_id")
        batch_op.create_index("ix_connectors_name_type", ["name", "connector_type_id", "id"])
        batch_op.create_index("ix_connectors_type_name", ["connector_type_id", "name", "id"])


def downgrade():
    with op.batch_alter_table("connectors") as batch_op:
        batch_op.drop_index("ix_connectors_type_name")
        batch_op.drop_index("ix_connectors_name_type")
        batch_op.create_index("ix_connectors_connector_type_id", ["connector_type_id"])
        batch_op.create_index("ix_connectors_name", ["name"])
