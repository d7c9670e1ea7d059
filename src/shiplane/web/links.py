"""Where things on the dashboard link to: pull requests, commits and issue keys (pure)."""

from __future__ import annotations

from shiplane.settings import Config


def repo_web_url(config: Config, repo: str) -> str | None:
    """``github:acme/web`` → ``https://github.com/acme/web`` (Enterprise and self-hosted: from ``api_url``)."""
    forge, _, path = repo.partition(":")
    settings = getattr(config.forges, forge, None) if path else None
    if settings is None:
        return None
    api = settings.api_url.rstrip("/")
    if forge == "github":
        base = "https://github.com" if api == "https://api.github.com" else api.removesuffix("/api/v3")
    elif forge == "gitlab":
        base = api.removesuffix("/api/v4")
    elif forge == "bitbucket":
        base = "https://bitbucket.org" if api == "https://api.bitbucket.org" else api.removesuffix("/2.0")
    else:
        return None
    return f"{base}/{path}"


_PR_PATH = {"github": "pull/{n}", "gitlab": "-/merge_requests/{n}", "bitbucket": "pull-requests/{n}"}
_COMMIT_PATH = {"github": "commit/{sha}", "gitlab": "-/commit/{sha}", "bitbucket": "commits/{sha}"}


class Links:
    """Links for one service's deploy page."""

    def __init__(self, config: Config, service: str) -> None:
        repo = next((s.repo for s in config.services if s.slug == service), "")
        self.forge = repo.partition(":")[0]
        self.base = repo_web_url(config, repo) if repo else None
        self.issue_template = config.changes.issue_url

    def pull_request(self, number: int) -> str | None:
        return f"{self.base}/{_PR_PATH[self.forge].format(n=int(number))}" if self.base else None

    def commit(self, sha: str, given: str | None = None) -> str | None:
        if given and given.startswith(("https://", "http://")):
            return given
        return f"{self.base}/{_COMMIT_PATH[self.forge].format(sha=sha)}" if self.base else None

    def issue(self, key: str) -> str | None:
        return self.issue_template.replace("{key}", key) if self.issue_template else None
