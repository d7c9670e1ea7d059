"""Bad merge-freeze settings fail `config check` as FILE: key: reason, the reason quoting the value."""

from __future__ import annotations

import pytest

from shiplane.settings import ConfigError, load_config_file

GITHUB = '[[services]]\nslug = "web"\nrepo = "github:acme/web"\n'


def problems(tmp_path, text: str) -> list[str]:
    path = tmp_path / "shiplane.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config_file(path, {})
    lines = info.value.lines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    return [line.removeprefix(f"{path}: ") for line in lines]


@pytest.mark.parametrize(
    "text,problem",
    [
        (GITHUB + 'merge_freeze = "ruleset"\n', "services[0].merge_freeze: Input should be 'statuses', 'branch' or 'both' (got 'ruleset')"),
        (GITHUB + "merge_freeze = true\n", "services[0].merge_freeze: Input should be 'statuses', 'branch' or 'both' (got True)"),
        ('[[services]]\nslug = "web"\nmerge_freeze = "branch"\n',
         "services[0].merge_freeze: merge_freeze 'branch' needs a repo whose branch to freeze (set services.repo)"),
        (GITHUB + 'exempt_labels = "hotfix"\n', "services[0].exempt_labels: Input should be a valid list (got 'hotfix')"),
        (GITHUB + 'exempt_labels = ["hotfix", 3]\n', "services[0].exempt_labels[1]: Input should be a valid string (got 3)"),
        (GITHUB + 'exempt_labels = [""]\n', "services[0].exempt_labels[0]: String should have at least 1 character (got '')"),
        ('[[services]]\nslug = "web"\nrepo = "bitbucket:acme/web"\nexempt_labels = ["hotfix"]\n',
         "services[0].exempt_labels: Bitbucket Cloud pull requests have no labels (repo 'bitbucket:acme/web'): ['hotfix']"),
        ('[forges.github]\nfreeze_bypass = "admins"\n', "forges.github.freeze_bypass: Input should be a valid list (got 'admins')"),
        ('[forges.github]\nfreeze_bypass = ["admins"]\n',
         "forges.github.freeze_bypass[0]: Input should be a valid dictionary or instance of BypassActor (got 'admins')"),
        ('[[forges.github.freeze_bypass]]\nactor_type = "Robot"\nactor_id = 1\n',
         "forges.github.freeze_bypass[0].actor_type: Input should be 'Integration', 'OrganizationAdmin', 'RepositoryRole', "
         "'Team', 'DeployKey' or 'User' (got 'Robot')"),
        ('[[forges.github.freeze_bypass]]\nactor_type = "Team"\n',
         "forges.github.freeze_bypass[0].actor_id: actor_type 'Team' needs an actor_id (the role, team, user or app id) (got None)"),
        ('[[forges.github.freeze_bypass]]\nactor_type = "Team"\nactor_id = "platform"\n',
         "forges.github.freeze_bypass[0].actor_id: Input should be a valid integer, unable to parse string as an integer (got 'platform')"),
        ('[[forges.github.freeze_bypass]]\nactor_type = "DeployKey"\nactor_id = 4\n',
         "forges.github.freeze_bypass[0].actor_id: actor_type 'DeployKey' takes no actor_id (got 4)"),
        ('[[forges.github.freeze_bypass]]\nactor_type = "DeployKey"\nbypass_mode = "pull_request"\n',
         "forges.github.freeze_bypass[0].bypass_mode: bypass_mode 'pull_request' does not apply to actor_type 'DeployKey'"),
        ('[[forges.github.freeze_bypass]]\nactor_type = "User"\nactor_id = 9\nbypass_mode = "sometimes"\n',
         "forges.github.freeze_bypass[0].bypass_mode: Input should be 'always', 'pull_request' or 'exempt' (got 'sometimes')"),
        ('[[forges.github.freeze_bypass]]\nactor_type = "User"\nactor_id = 9\nmode = "always"\n',
         "forges.github.freeze_bypass[0].mode: unknown key"),
    ],
)
def test_it_names_the_file_the_key_and_the_reason(tmp_path, text, problem):
    assert problem in problems(tmp_path, text)


def test_good_values_load(tmp_path):
    path = tmp_path / "shiplane.toml"
    path.write_text(
        GITHUB
        + 'merge_freeze = "both"\nexempt_labels = ["hotfix", "security"]\n'
        + '[forges.github]\ntoken = "t"\n'
        + '[[forges.github.freeze_bypass]]\nactor_type = "RepositoryRole"\nactor_id = 5\n'
        + '[[forges.github.freeze_bypass]]\nactor_type = "OrganizationAdmin"\nbypass_mode = "pull_request"\n'
        + '[[forges.github.freeze_bypass]]\nactor_type = "DeployKey"\n'
    )
    config = load_config_file(path, {})
    assert (config.services[0].merge_freeze, config.services[0].exempt_labels) == ("both", ["hotfix", "security"])
    assert [a.to_api() for a in config.forges.github.freeze_bypass] == [
        {"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"},
        {"actor_id": None, "actor_type": "OrganizationAdmin", "bypass_mode": "pull_request"},
        {"actor_id": None, "actor_type": "DeployKey", "bypass_mode": "always"},
    ]


def test_the_default_is_statuses(tmp_path):
    path = tmp_path / "shiplane.toml"
    path.write_text(GITHUB)
    assert load_config_file(path, {}).services[0].merge_freeze == "statuses"
