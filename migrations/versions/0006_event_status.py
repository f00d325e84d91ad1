"""One word for a run's outcome: events keep `status` ok | error, as the run's result does.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("events") as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="error"))
    op.execute("UPDATE events SET status = CASE WHEN outcome = 'success' THEN 'ok' ELSE 'error' END")
    with op.batch_alter_table("events") as batch_op:
        batch_op.alter_column("status", server_default=None)
        batch_op.drop_index("ix_events_outcome")
        batch_op.drop_column("outcome")
        batch_op.create_index("ix_events_status", ["status"], unique=False)


def downgrade():
    with op.batch_alter_table("events") as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=False, server_default="failure"))
    op.execute("UPDATE events SET outcome = CASE WHEN status = 'ok' THEN 'success' ELSE 'failure' END")
    with op.batch_alter_table("events") as batch_op:
        batch_op.alter_column("outcome", server_default=None)
        batch_op.drop_index("ix_events_status")
        batch_op.drop_column("status")
        batch_op.create_index("ix_events_outcome", ["outcome"], unique=False)
