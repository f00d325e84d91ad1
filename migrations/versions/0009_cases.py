"""Cases: cases, their comments and alerts, their pushes to connectors, and the `.cases` oracle records.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=160), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rule_id", sa.String(length=255), nullable=True),
        sa.Column("rule_name", sa.String(length=255), nullable=True),
        sa.Column("grouping", sa.JSON(), nullable=True),
        sa.Column("connector_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cases") as batch_op:
        batch_op.create_index("ix_cases_status_updated_at", ["status", "updated_at"], unique=False)
        batch_op.create_index("ix_cases_updated_at", ["updated_at"], unique=False)
    op.create_table(
        "case_comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_comments") as batch_op:
        batch_op.create_index("ix_case_comments_case_id", ["case_id"], unique=False)
    op.create_table(
        "case_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("alert_id", sa.String(length=255), nullable=False),
        sa.Column("alert_index", sa.String(length=255), nullable=False),
        sa.Column("rule_id", sa.String(length=255), nullable=True),
        sa.Column("rule_name", sa.String(length=255), nullable=True),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "alert_id", "alert_index", name="uq_case_alerts_case_alert"),
    )
    op.create_table(
        "case_externals",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("connector_id", sa.String(length=255), nullable=False),
        sa.Column("connector_name", sa.String(length=255), nullable=False),
        sa.Column("connector_type_id", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("external_title", sa.String(length=255), nullable=False),
        sa.Column("external_url", sa.Text(), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pushed_by", sa.String(length=255), nullable=False),
        sa.Column("pushed_comments", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "connector_id"),
    )
    op.create_table(
        "case_oracle_records",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=255), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("grouping", sa.JSON(), nullable=False),
        sa.Column("counter", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("case_oracle_records")
    op.drop_table("case_externals")
    op.drop_table("case_alerts")
    with op.batch_alter_table("case_comments") as batch_op:
        batch_op.drop_index("ix_case_comments_case_id")
    op.drop_table("case_comments")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_index("ix_cases_updated_at")
        batch_op.drop_index("ix_cases_status_updated_at")
    op.drop_table("cases")
