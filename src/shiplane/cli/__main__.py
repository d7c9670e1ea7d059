from shiplane.cli import app

app()
