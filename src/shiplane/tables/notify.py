from sqlalchemy import Column, Integer, Table

from shiplane.db import UTCDateTime, metadata

# The relay's position in the event log (a single row, id = 1). Events up to
# ``last_event_id`` have been turned into delivery jobs. ``gap_since`` is when
# the relay first saw a hole right after that id: ids are handed out at insert
# but become visible at commit, so a hole may be a transaction still open.
notify_cursor = Table(
    "notify_cursor",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_event_id", Integer, nullable=False),
    Column("gap_since", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),
)
