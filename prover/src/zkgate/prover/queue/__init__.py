"""The shared database: the job queue, the model catalogue and the SQLite and PostgreSQL
backends they run on."""
