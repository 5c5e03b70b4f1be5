"""The seeds' Flask design, on Exotel's PIN recipe: the yardstick of the load benchmark.

Exotel's recipe has the caller key a PIN; the Connect applet's "Dial whom" URL gets it as
`digits` (quoted, `digits="568"`) with the number dialled as `To`, and answers the number to
dial as text/plain. The seeds show a Flask endpoint that looks the other party up and returns
their number; here the lookup is one indexed SQLite query on the load benchmark's own orders
(a PIN is unique on its virtual number), so the comparison is on the same data.

    python flask_recipe.py load ORDERS.csv ORDERS.db   # once: the orders, customers in E.164
    ORDERS_DB=ORDERS.db gunicorn -w 5 flask_recipe:app # then serve GET /connect

`examples/load.rs` runs both with `--flask-python`; `scripts/load.sh --flask` installs Flask and
gunicorn for it.
"""

import csv
import os
import sqlite3
import sys

from flask import Flask, Response, request

app = Flask(__name__)
_connection = None


def _db():
    global _connection
    if _connection is None:
        _connection = sqlite3.connect(os.environ["ORDERS_DB"], check_same_thread=False)
    return _connection


@app.route("/connect")
def connect():
    """The customer's number for the PIN in `digits` on the number dialled (`To`), or an empty
    body: Exotel dials no one."""
    pin = request.args.get("digits", "").strip('"')
    number = request.args.get("To", "")
    row = _db().execute(
        "select customer from orders where virtual_number = ? and pin = ?", (number, pin)
    ).fetchone()
    return Response(row[0] if row else "", mimetype="text/plain")


def load(csv_path, db_path):
    """Writes the orders of the benchmark's CSV (national numbers, Indian) to a new SQLite file."""
    if os.path.exists(db_path):
        os.remove(db_path)
    db = sqlite3.connect(db_path)
    db.execute(
        "create table orders (virtual_number text, pin text, customer text not null,"
        " primary key (virtual_number, pin))"
    )
    with open(csv_path, newline="") as f:
        rows = (
            (r["virtual_number"], r["pin"], "+91" + r["customer_number"][1:])
            for r in csv.DictReader(f)
        )
        db.executemany("insert into orders (virtual_number, pin, customer) values (?, ?, ?)", rows)
    db.commit()
    db.close()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: flask_recipe.py load ORDERS.csv ORDERS.db")
