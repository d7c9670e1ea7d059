"""The dashboard: server-rendered pages, sessions for people, live updates."""
