"""The service's one schema and its migrations (plain SQL, owned by the service).

``MIGRATIONS[v - 1]`` takes the database from version ``v - 1`` to ``v``; the version reached
is kept in ``schema_version``.  Each migration is a list of statements with two placeholders
filled per dialect: ``{id}`` (an auto-generated 64-bit key) and ``{float}`` (an IEEE double).
Never edit a released migration: append a new one.

Tables
------
experiments(id, name)
    One bandit per name.
arms(id, experiment_id, position, name, prior_a, prior_b, a, b, pulls)
    The Beta posterior ``Beta(a, b)`` of each arm, its prior, and the number of rewards
    counted; ``a + b - prior_a - prior_b == pulls`` always holds.
events(experiment_id, event_id, arm_id, reward)
    Every reward ever counted, keyed by the client's event id: the primary key makes a second
    delivery of the same event a no-op (idempotency).
"""

from __future__ import annotations

DIALECT_TYPES = {
    "sqlite": {"id": "INTEGER PRIMARY KEY", "float": "REAL"},
    "postgresql": {"id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
                   "float": "DOUBLE PRECISION"},
}

MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE experiments (
            id {id},
            name TEXT NOT NULL UNIQUE
        )""",
        """CREATE TABLE arms (
            id {id},
            experiment_id BIGINT NOT NULL REFERENCES experiments (id),
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            prior_a {float} NOT NULL CHECK (prior_a > 0),
            prior_b {float} NOT NULL CHECK (prior_b > 0),
            a {float} NOT NULL,
            b {float} NOT NULL,
            pulls BIGINT NOT NULL DEFAULT 0,
            UNIQUE (experiment_id, position),
            UNIQUE (experiment_id, name)
        )""",
        """CREATE TABLE events (
            experiment_id BIGINT NOT NULL REFERENCES experiments (id),
            event_id TEXT NOT NULL,
            arm_id BIGINT NOT NULL REFERENCES arms (id),
            reward SMALLINT NOT NULL CHECK (reward IN (0, 1)),
            PRIMARY KEY (experiment_id, event_id)
        )""",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)


def statements(version: int, dialect: str) -> list[str]:
    """The statements of migration ``version`` (1-based) for ``dialect``."""
    types = DIALECT_TYPES[dialect]
    return [s.format(**types) for s in MIGRATIONS[version - 1]]
