"""One module per forge (GitHub, Bitbucket, GitLab) behind the Forge protocol in base.py."""
