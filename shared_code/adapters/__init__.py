"""One adapter per store: the only modules that spell a key, a table, a queue or a SQL statement."""
