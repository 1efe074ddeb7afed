from .cli import cli

# Guarded: the chart process ("spawn") imports the main module again and must not run the CLI.
if __name__ == "__main__":
    cli()
