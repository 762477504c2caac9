from callscout.cli import app

app()
