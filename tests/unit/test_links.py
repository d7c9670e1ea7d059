"""Links on the deploy page: pull requests, commits and issue keys, per forge."""

import pytest

from shiplane.settings import Config
from shiplane.web.links import Links, repo_web_url


def config(**forges):
    return Config.model_validate({
        "forges": forges,
        "services": [{"slug": "web", "repo": "github:acme/web"}, {"slug": "api", "repo": "gitlab:acme/api"},
                     {"slug": "pay", "repo": "bitbucket:acme/pay"}, {"slug": "bare"}],
        "changes": {"issue_url": "https://acme.atlassian.net/browse/{key}"},
    })


ALL = {"github": {"token": "t"}, "gitlab": {"token": "t"}, "bitbucket": {"token": "t"}}


@pytest.mark.parametrize("service, pr, commit", [
    ("web", "https://github.com/acme/web/pull/41", "https://github.com/acme/web/commit/abc"),
    ("api", "https://gitlab.com/acme/api/-/merge_requests/41", "https://gitlab.com/acme/api/-/commit/abc"),
    ("pay", "https://bitbucket.org/acme/pay/pull-requests/41", "https://bitbucket.org/acme/pay/commits/abc"),
])
def test_each_forge_has_its_own_paths(service, pr, commit):
    links = Links(config(**ALL), service)
    assert links.pull_request(41) == pr
    assert links.commit("abc") == commit
    assert links.issue("PROJ-12") == "https://acme.atlassian.net/browse/PROJ-12"


def test_enterprise_hosts_come_from_the_api_url():
    cfg = config(github={"token": "t", "api_url": "https://ghe.acme.internal/api/v3"})
    assert repo_web_url(cfg, "github:acme/web") == "https://ghe.acme.internal/acme/web"
    cfg = config(gitlab={"token": "t", "api_url": "https://git.acme.internal/api/v4/"})
    assert repo_web_url(cfg, "gitlab:acme/api") == "https://git.acme.internal/acme/api"


def test_no_repo_or_no_forge_means_no_links_and_only_web_urls_are_kept():
    assert Links(config(**ALL), "bare").pull_request(1) is None
    assert Links(config(), "web").pull_request(1) is None  # no [forges.github]
    links = Links(config(**ALL), "bare")
    assert links.commit("abc", "https://ci.example/commit/abc") == "https://ci.example/commit/abc"
    assert links.commit("abc", "javascript:alert(1)") is None  # never a script link
    assert Links(Config(), "web").issue("PROJ-1") is None


def test_issue_url_must_hold_the_key():
    with pytest.raises(ValueError, match="containing"):
        Config.model_validate({"changes": {"issue_url": "https://jira.example/browse/"}})
