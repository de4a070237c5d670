from floyo.cli import app

app()
