"""Stopping payment reminders from the link in each one (and the List-Unsubscribe header mail apps show as a
button). The link carries the customer's id signed with SECRET_KEY, so it cannot be guessed or pointed at someone
else; opening it only asks, a POST stops them (a link scanner fetching the URL changes nothing). RFC 8058's
one-click POST carries no cookie, so the signature, not a CSRF token, is what authorises it."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.exc import IntegrityError

from ..extensions import db, limiter
from ..merchant import merchant_settings
from ..models import AuditEvent, Customer, ReminderOptOut
from .reminders import opted_out

public = Blueprint("reminders", __name__, url_prefix="/reminders")
SALT = "reminder-opt-out"


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def stop_url(customer: Customer) -> str:
    return f"{current_app.config['FRONTEND_URL']}/reminders/stop/{_signer().dumps(customer.id)}"


def _customer_or_404(token: str) -> Customer:
    try:
        customer_id = _signer().loads(token) if len(token) < 200 else None
    except BadSignature:
        customer_id = None
    customer = db.session.get(Customer, customer_id) if isinstance(customer_id, int) else None
    if customer is None:
        abort(404, "This link is not valid. Reply to the merchant's email and ask them to stop reminders.")
    return customer


def masked(address: str) -> str:
    """a…@example.com: enough for the owner to recognise, not enough to harvest from a forwarded link."""
    name, _, domain = address.partition("@")
    return f"{name[:1]}…@{domain}"


@public.get("/stop/<token>")
def ask(token: str):
    customer = _customer_or_404(token)
    return _page(customer, stopped=opted_out(customer.email) is not None)


@public.post("/stop/<token>")
@limiter.limit("20 per minute")
def stop(token: str):
    customer = _customer_or_404(token)
    address = customer.email.strip().lower()
    if request.form.get("action") == "resume":
        row = opted_out(address)
        if row is not None:
            db.session.delete(row)
            AuditEvent.record(None, "reminders.resumed", "customer", customer.id,
                              f"{masked(address)} asked for reminders again").actor_label = "the customer"
            db.session.commit()
        return _page(customer, stopped=False, resumed=True)
    if opted_out(address) is None:
        try:
            db.session.add(ReminderOptOut(address=address))
            AuditEvent.record(None, "reminders.stopped", "customer", customer.id,
                              f"{masked(address)} unsubscribed from payment reminders"
                              + (" (one click in their mail app)" if request.form.get("List-Unsubscribe") else "")
                              ).actor_label = "the customer"
            db.session.commit()
        except IntegrityError:  # a second click at the same moment: already stopped, which is what they asked
            db.session.rollback()
    return _page(customer, stopped=True)


def _page(customer: Customer, stopped: bool, resumed: bool = False):
    response = current_app.make_response(render_template(
        "reminders/stop.html", merchant=merchant_settings(), address=masked(customer.email), stopped=stopped,
        resumed=resumed, token=request.view_args["token"]))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response
