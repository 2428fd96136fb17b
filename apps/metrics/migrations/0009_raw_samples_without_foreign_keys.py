"""Raw sample tables without database foreign keys (see SystemSample in apps/metrics/models.py).

PostgreSQL: the constraints are dropped on the partitioned tables (and so on every partition).
SQLite keeps them in its table definitions (not the hot path; rebuilding the tables buys
nothing); the state says db_constraint=False on both.
"""

import django.db.models.deletion
from django.db import migrations, models

TABLES = ("metrics_systemsample", "metrics_goplssample")
REFERENCES = [
    ("metrics_systemsample", "machine_id", "fleet_machine"),
    ("metrics_goplssample", "machine_id", "fleet_machine"),
    ("metrics_goplssample", "process_id", "fleet_goplsprocess"),
]


def drop_foreign_keys(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) AND conparentid = 0",
            [list(TABLES)],
        )
        found = cursor.fetchall()
    for table, name in found:
        schema_editor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')


def add_foreign_keys(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column, target in REFERENCES:
        schema_editor.execute(
            f"ALTER TABLE {table} ADD FOREIGN KEY ({column}) REFERENCES {target} (id) "
            "DEFERRABLE INITIALLY DEFERRED"
        )


def foreign_key(to):
    return models.ForeignKey(
        db_constraint=False,
        db_index=False,
        on_delete=django.db.models.deletion.CASCADE,
        to=to,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0007_wsl_host_facts"),
        ("metrics", "0008_rollup_chunks"),
    ]

    operations = [
        migrations.RunPython(drop_foreign_keys, add_foreign_keys),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField("goplssample", "machine", foreign_key("fleet.machine")),
                migrations.AlterField("goplssample", "process", foreign_key("fleet.goplsprocess")),
                migrations.AlterField("systemsample", "machine", foreign_key("fleet.machine")),
            ]
        ),
    ]
