"""The database tables, one module per domain, below every package that reads or writes them.

Importing this package registers every table on ``metadata`` (Alembic, tests).
"""

from shiplane.db import metadata
from shiplane.tables import (  # noqa: F401  (each module registers its tables on metadata)
    auth,
    catalog,
    deploys,
    dora,
    enforcement,
    events,
    health,
    jobs,
    locks,
    notify,
    web,
)

__all__ = ["metadata"]
