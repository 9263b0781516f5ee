"""What every benchmark here shares: a database of its own, dropped and recreated."""
import sqlalchemy as sa
from sqlalchemy import text


def recreate_database(url: str) -> None:
    """Drop the database ``url`` names (closing its connections) and create it empty."""
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
