from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint

from shiplane.db import JSONType, UTCDateTime, metadata

# Open (and recently closed) pull requests, as last seen from the forge or its webhooks.
pull_requests = Table(
    "pull_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("forge", String(16), nullable=False),
    Column("repo", String(300), nullable=False),
    Column("number", Integer, nullable=False),
    Column("head_sha", String(64), nullable=False),
    Column("base", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # open | closed | merged
    Column("draft", Boolean, nullable=False, default=False),
    Column("approved", Boolean, nullable=False, default=False),
    Column("mergeable", Boolean, nullable=True),
    Column("title", Text, nullable=False, default=""),
    Column("author", String(200), nullable=True),
    Column("url", String(2000), nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),
    Column("merged_at", UTCDateTime, nullable=True),
    Column("merge_sha", String(64), nullable=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Column("labels", JSONType, nullable=True),  # label names, as last listed or sent by a webhook
    # The signature of the closed-gate status under which this pull request's exemption was last
    # recorded (a merge_exempted event): one event per pull request per lock, not one per push.
    Column("exempt_for", String(32), nullable=True),
    UniqueConstraint("forge", "repo", "number", name="uq_pull_requests_number"),
    Index("ix_pull_requests_open", "forge", "repo", "base", "state"),
    Index("ix_pull_requests_merge_sha", "merge_sha"),
)

# What we last posted on each commit for each context: identical statuses are never re-posted.
commit_statuses = Table(
    "commit_statuses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("forge", String(16), nullable=False),
    Column("repo", String(300), nullable=False),
    Column("sha", String(64), nullable=False),
    Column("context", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("description", String(200), nullable=False),
    Column("signature", String(32), nullable=False),
    Column("posted_at", UTCDateTime, nullable=False),
    UniqueConstraint("forge", "repo", "sha", "context", name="uq_commit_statuses_target"),
)

# Per service: the status its open PRs should carry, and how far delivery has got.
merge_sync = Table(
    "merge_sync",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("service", String(64), nullable=False, unique=True),
    Column("desired", JSONType, nullable=True),
    Column("signature", String(32), nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("pulls", Integer, nullable=False, default=0),
    Column("total", Integer, nullable=False, default=0),
    Column("done", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("last_error_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),
)

# Delivery ids already processed (forges retry webhooks).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("forge", String(16), nullable=False),
    Column("delivery_id", String(200), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("forge", "delivery_id", name="uq_webhook_deliveries_delivery"),
)

# Commits seen in push webhooks: a source for what each deploy shipped.
pushed_commits = Table(
    "pushed_commits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("forge", String(16), nullable=False),
    Column("repo", String(300), nullable=False),
    Column("branch", String(200), nullable=False),
    Column("sha", String(64), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("author_name", String(200), nullable=True),
    Column("author_email", String(254), nullable=True),
    Column("author_username", String(200), nullable=True),
    Column("committed_at", UTCDateTime, nullable=True),
    Column("url", String(2000), nullable=True),
    Column("files", JSONType, nullable=False, default=list),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("forge", "repo", "sha", name="uq_pushed_commits_sha"),
)


# Per service with merge_freeze = "branch" | "both": the branch freeze Shiplane wants and what it
# last made or saw at the forge. `ref` is the forge's id of what Shiplane created (GitHub ruleset,
# Bitbucket branch restriction): only that object is ever edited or deleted. `previous` is GitLab's
# protection before the freeze, restored exactly on unfreeze. `writing` is set before a create is
# sent and cleared when its answer is recorded, so a create whose answer was lost is adopted, not
# repeated. `failed` is a permanent error (e.g. no Administration permission): statuses take over.
branch_freezes = Table(
    "branch_freezes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("service", String(64), nullable=False, unique=True),
    Column("forge", String(16), nullable=False),
    Column("repo", String(300), nullable=False),
    Column("branch", String(200), nullable=False),
    Column("desired", String(8), nullable=False),  # frozen | open
    Column("state", String(8), nullable=False),  # frozen | open, as last made or seen at the forge
    Column("ref", String(64), nullable=True),
    Column("previous", JSONType, nullable=True),
    Column("writing", Boolean, nullable=False, default=False),
    Column("failed", Boolean, nullable=False, default=False),
    Column("last_error", Text, nullable=True),
    Column("last_error_at", UTCDateTime, nullable=True),
    Column("changed_at", UTCDateTime, nullable=True),  # when the forge last went frozen or open
    Column("checked_at", UTCDateTime, nullable=True),
    Column("next_check_at", UTCDateTime, nullable=True),  # the one periodic check still wanted
    Column("updated_at", UTCDateTime, nullable=False),
)

# GitHub merge groups whose checks asked for our status while the merge gate was closed: held
# with a pending status, released with success when the gate opens, reported when GitHub drops them.
merge_groups = Table(
    "merge_groups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("forge", String(16), nullable=False),
    Column("repo", String(300), nullable=False),
    Column("head_sha", String(64), nullable=False),
    Column("head_ref", String(300), nullable=False),
    Column("base", String(200), nullable=False),
    Column("pulls", JSONType, nullable=False),  # pull request numbers, from the queue's ref name
    Column("state", String(16), nullable=False),  # held | released | merged | dequeued
    Column("requested_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("forge", "repo", "head_sha", name="uq_merge_groups_head"),
    Index("ix_merge_groups_state", "forge", "repo", "state"),
)
