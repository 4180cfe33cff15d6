"""`grader serve`: the submission service (see the contract in service-contract.md).

    db.py        the one database module: SQLite (WAL) or PostgreSQL, the durable queue
    policy.py    an assignment's [service] settings: upload size, rate limit, latest or best
    storage.py   uploads and reports under DATA_DIR, under names the service makes
    auth.py      tokens, browser sessions, CSRF
    queue.py     the grading queue: claims, grades on the batch's runners, stores
    app.py       the JSON API and what the routes share
    pages.py     the HTML pages (templates/serve/)
    asgi.py      the Starlette application: API and pages, errors, security headers
    command.py   `grader serve`: roster, tokens.csv, uvicorn

Needs the `serve` extra (Starlette, uvicorn, python-multipart; psycopg for PostgreSQL).
"""
