"""Who is calling: API tokens and dashboard users, roles, and the FastAPI dependencies that check them."""
