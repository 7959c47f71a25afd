"""tracking events: drop the foreign key on visit_id (the drain's bulk insert pays for it)

Revision ID: 0003_tracking_events_visit_fk
Revises: 0002_marketing_areas
Create Date: 2026-11-30 13:40:00

"""
from alembic import op


revision = '0003_tracking_events_visit_fk'
down_revision = '0002_marketing_areas'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tracking_events', schema=None) as batch_op:
        batch_op.drop_constraint('fk_tracking_events_visit_id_tracking_visits',
                                 type_='foreignkey')


def downgrade():
    with op.batch_alter_table('tracking_events', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_tracking_events_visit_id_tracking_visits',
                                    'tracking_visits', ['visit_id'], ['id'],
                                    ondelete='SET NULL')
