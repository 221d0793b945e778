"""Persistence: SQLAlchemy Core tables, repositories and Alembic migrations.

Only this package speaks SQL. It returns and accepts domain objects.
"""
