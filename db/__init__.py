"""Database access for CityGrid: the embedded cluster, engines, models, migrations and
the spatial queries that ``etl`` and ``app`` share. Nothing else talks SQL."""
