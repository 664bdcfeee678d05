"""Write the local `.env` that `make run` reads (once: an existing file is left alone).

A fresh secret key per checkout, and development mode. Production sets its variables in
the real environment instead; `.env` is git-ignored.
"""

import secrets
import sys
from pathlib import Path

TEMPLATE = """\
# Local settings for `make run` and `manage.py`, written once by `make .env`.
# Variables set in the real environment take precedence. Never commit this file.
SECRET_KEY={secret_key}
DEBUG=1
"""


def main(path: str = ".env") -> int:
    target = Path(path)
    if target.exists():
        return 0
    target.write_text(TEMPLATE.format(secret_key=secrets.token_urlsafe(50)))
    target.chmod(0o600)
    print(f"Wrote {target} (a new SECRET_KEY, DEBUG=1).")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
