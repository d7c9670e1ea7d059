"""What a deploy shipped: commits from the request, push webhooks or a git mirror; PR numbers and issue keys."""
