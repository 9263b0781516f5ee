"""The only layer that loads from the database, calls billing/, writes and commits."""
