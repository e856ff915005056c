"""Storage layer: typed schema, engine factory, migrations and the one bulk upsert every writer uses."""
