"""On PostgreSQL, rebuild the raw sample tables as daily range partitions (see partitions.py)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from apps.metrics.partitions import convert_to_partitioned

    convert_to_partitioned(schema_editor)


class Migration(migrations.Migration):
    atomic = True

    dependencies = [("metrics", "0002_rollups"), ("fleet", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
