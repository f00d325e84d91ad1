"""The event log filters by connector type and by source: an index for each, newest first within it.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("events") as batch_op:
        batch_op.create_index("ix_events_connector_type_id_id", ["connector_type_id", "id"], unique=False)
        batch_op.create_index("ix_events_source_id", ["source", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_index("ix_events_source_id")
        batch_op.drop_index("ix_events_connector_type_id_id")
