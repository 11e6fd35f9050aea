"""Errors: JSON for machines (`/api`, `/webhooks`), HTML pages for people."""
from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

MACHINE_PREFIXES = ("/api/", "/webhooks/")  # /api/ also covers the legacy webhook paths


def wants_json() -> bool:
    return request.path.startswith(MACHINE_PREFIXES)


def json_error(status: int, code: str, message: str, **extra):
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status


def _code_for(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        message = "This form has expired or did not come from this site. Reload the page and try again."
        if wants_json():
            return json_error(400, "csrf_failed", message)
        return render_template("errors/error.html", title="Form expired", message=message, status=400), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if wants_json():
            response = json_error(exc.code or 500, _code_for(exc), exc.description or exc.name)
            # Keep what the exception says in headers (Allow on 405, Retry-After on 429).
            for name, value in exc.get_headers():
                if name.lower() != "content-type":
                    response[0].headers[name] = value
        else:
            response = (
                render_template("errors/error.html", title=exc.name, message=exc.description, status=exc.code),
                exc.code,
            )
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        # A failed statement leaves the session unusable; the error page loads the signed-in user.
        from .extensions import db

        db.session.rollback()
        message = "Something went wrong on our side. It has been logged; please try again."
        if wants_json():
            return json_error(500, "internal_error", message)
        return render_template("errors/error.html", title="Server error", message=message, status=500), 500
