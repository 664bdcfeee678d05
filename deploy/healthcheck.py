"""The container health check: GET /healthz/ on this container's daphne.

Exit 0 when the worker answers 200, 1 otherwise. It sends no particular Host: the probes
are answered ahead of the host check (chatsite/middleware.py ProbeMiddleware), so it works
with the real ALLOWED_HOSTS. Standard library only, so it runs in the slim image.
"""

import os
import sys
import urllib.request

URL = os.environ.get("HEALTHCHECK_URL", "http://127.0.0.1:8000/healthz/")


def main() -> int:
    try:
        with urllib.request.urlopen(URL, timeout=5) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:
        print(f"health check failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
