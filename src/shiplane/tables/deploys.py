from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text, text

from shiplane.db import JSONType, UTCDateTime, metadata

deploys = Table(
    "deploys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("service_id", Integer, ForeignKey("services.id"), nullable=False),
    Column("environment_id", Integer, ForeignKey("environments.id"), nullable=False),
    Column("sha", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("registered_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    # Deploy time (finished_at, else started_at, else registered_at), stored so
    # that "newest first" and "latest deploy" are one index range scan.
    Column("deployed_at", UTCDateTime, nullable=False),
    Column("version", String(200), nullable=True),
    Column("author", String(200), nullable=True),
    Column("email", String(254), nullable=True),
    Column("url", String(2000), nullable=True),
    Column("tags", JSONType, nullable=False, default=list),
    Column("during_lock", Boolean, nullable=False, default=False),
    Column("override_reason", Text, nullable=True),
    Column("override_by", String(200), nullable=True),
    Column("registered_by", String(200), nullable=True),
    Column("rollback_of", Integer, nullable=True),
    # Why DORA counts this deploy as failed besides its health (SPEC §8.9, §8.7): "rolled back
    # by #<id>" (the deploy live when a rollback replaced it), "rolled back by <who>", "revert …".
    Column("dora_failure", String(200), nullable=True),
    Column("has_changes", Boolean, nullable=False, default=False),
    # What shipped: where the change list came from (body | webhook | mirror | none),
    # why it is empty when it is, and the batch size.
    Column("changes_source", String(16), nullable=True),
    Column("changes_note", Text, nullable=True),
    Column("commit_count", Integer, nullable=True),
    Column("files_changed", Integer, nullable=True),
    Column("health_state", String(16), nullable=False, default="pending"),
    Column("health_score", Float, nullable=True),
    Column("health_final", Boolean, nullable=False, default=False),
    Column("health_reason", Text, nullable=True),
    Column("health_detail", JSONType, nullable=True),
    Column("health_next_at", UTCDateTime, nullable=True),  # when the judge looks again (NULL: not yet planned)
    Index("ix_deploys_scope_time", "service_id", "environment_id", "deployed_at", "id"),
    Index("ix_deploys_time", "deployed_at", "id"),
    Index("ix_deploys_env_time", "environment_id", "deployed_at", "id"),
    # Deploy time too, so "the latest earlier deploy of this sha" (rollback
    # detection) is one descent, not a walk of the scope's history (0009).
    Index("ix_deploys_scope_sha", "service_id", "environment_id", "sha", "deployed_at", "id"),
    # At most one deploy in progress per service and environment, enforced by
    # the database so that concurrent starts have exactly one winner on every
    # engine and in every process.
    # Deploys whose health the judge has not settled yet.
    Index(
        "ix_deploys_health_due",
        "health_next_at",
        sqlite_where=text("health_final = false AND status = 'succeeded'"),
        postgresql_where=text("health_final = false AND status = 'succeeded'"),
    ),
    # Succeeded deploys whose change list the worker still has to work out.
    Index(
        "ix_deploys_changes_pending",
        "id",
        sqlite_where=text("status = 'succeeded' AND changes_source IS NULL"),
        postgresql_where=text("status = 'succeeded' AND changes_source IS NULL"),
    ),
    Index(
        "uq_deploys_in_progress",
        "service_id",
        "environment_id",
        unique=True,
        sqlite_where=text("status = 'started'"),
        postgresql_where=text("status = 'started'"),
    ),
)

deploy_commits = Table(
    "deploy_commits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("deploy_id", Integer, ForeignKey("deploys.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("sha", String(64), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("author_name", String(200), nullable=True),
    Column("author_email", String(254), nullable=True),
    Column("author_username", String(200), nullable=True),
    Column("committed_at", UTCDateTime, nullable=True),
    Column("url", String(2000), nullable=True),
    Column("pull_requests", JSONType, nullable=False, default=list),
    Column("issue_keys", JSONType, nullable=False, default=list),
    Column("files", JSONType, nullable=True),
    Index("ix_deploy_commits_deploy", "deploy_id", "position"),
    # Covers DORA's lead-time read, so it never touches the wide commit rows (messages).
    Index("ix_deploy_commits_lead", "deploy_id", "committed_at"),
    # The other shippers of a commit: lead time counts it once per environment and service (0014).
    Index("ix_deploy_commits_sha", "sha"),
)
