"""A site worker: daphne on uvloop.

    python -m chatsite.worker --bind 127.0.0.1 --port 8000 chatsite.asgi:application

takes daphne's own arguments. daphne builds its event loop when its server module is
imported, before it loads the application, so the loop's kind has to be chosen before
daphne is; that is all this module does. uvloop's loop does what asyncio's does with
less CPU: about 9% of a streamed turn and a few percent of a read, side by side with
plain daphne (tasks, futures and the database pool's wake-ups are a good part of a
request's work). Plain `daphne`
still serves the same application, on asyncio's own loop.
"""

import asyncio

import uvloop


def main() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from daphne.cli import CommandLineInterface  # builds daphne's loop: after the policy

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
