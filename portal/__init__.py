"""HisabPro: the merchant portal. `create_app` only assembles: config, extensions, blueprints."""
from __future__ import annotations

import os
from pathlib import Path

import click
from flask import Flask

from . import logs
from .config import DEBUG_IN_PRODUCTION, DEFAULT_INSTANCE_PATH, ConfigError, load_config
from .extensions import cache, csrf, db, limiter, login_manager, migrate


def create_app(config: dict | None = None) -> Flask:
    instance_path = Path(
        (config or {}).get("INSTANCE_PATH") or os.environ.get("PORTAL_INSTANCE_PATH") or DEFAULT_INSTANCE_PATH
    )
    app = Flask(__name__, instance_path=str(instance_path), instance_relative_config=True)
    app.config.from_mapping(load_config(instance_path))
    if config:
        app.config.from_mapping(config)
    _refuse_debugger_in_production(app)
    logs.init_app(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    cache.init_app(app)
    limiter.init_app(app)

    from . import (attention, auth, api, customers, errors, gateways, home, inbox, invoices, jobs, mail, merchant,
                   security, statistics, users, cli, pay, templating, webhooks)
    from . import validation
    from .payments import engine as payment_engine
    from .payments import ledger, reconcile, refunds  # noqa: F401  (they register background job handlers)

    payment_engine.init_app(app)
    security.init_app(app)
    templating.init_app(app)
    errors.init_app(app)
    validation.init_app(app)  # URL converters first: the blueprints' rules below use them
    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(invoices.bp)
    app.register_blueprint(merchant.bp)
    app.register_blueprint(customers.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(gateways.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(mail.bp)
    app.register_blueprint(mail.public)
    app.register_blueprint(attention.bp)
    app.register_blueprint(statistics.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(pay.bp)
    csrf.exempt(webhooks.bp)  # gateways sign their deliveries; there is no session to forge
    app.register_blueprint(api.bp)
    csrf.exempt(mail.unsubscribe.stop)  # signed link; mail apps' one-click POST (RFC 8058) has no cookie
    csrf.exempt(api.bp)  # bearer tokens, no cookies: nothing for a cross-site form to ride on
    cli.init_app(app)
    jobs.init_app(app)
    return app


def _refuse_debugger_in_production(app: Flask) -> None:
    """The Werkzeug debugger runs arbitrary code for whoever reaches it: never in production. Debug mode
    comes from FLASK_DEBUG or the DEBUG setting; `flask run --debugger` asks for the debugger on its own."""
    if app.config["PORTAL_ENV"] != "production":
        return
    command = click.get_current_context(silent=True)
    if app.debug or (command is not None and command.info_name == "run" and command.params.get("debugger")):
        raise ConfigError(DEBUG_IN_PRODUCTION)
