"""CSRF, security headers, proxies, and error pages that never leak a 500 for bad input."""
import pytest

from portal import create_app
from portal.extensions import db
from portal.models import Invoice


def test_form_without_csrf_token_is_rejected_and_changes_nothing(signed_in_staff, make_invoice):
    invoice = make_invoice()
    response = signed_in_staff.client.post(f"/invoices/{invoice.id}/void")
    assert response.status_code == 400
    assert "Reload the page" in response.get_data(as_text=True)
    assert db.session.get(Invoice, invoice.id).status == "draft"


def test_forged_csrf_token_is_rejected(signed_in_staff, make_invoice):
    invoice = make_invoice()
    response = signed_in_staff.client.post(f"/invoices/{invoice.id}/void", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert db.session.get(Invoice, invoice.id).status == "draft"


def test_htmx_requests_carry_the_token_in_a_header(signed_in_staff, make_invoice):
    invoice = make_invoice()
    token = signed_in_staff.token("/invoices/")
    response = signed_in_staff.client.post(f"/invoices/{invoice.id}/void",
                                           headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 303
    assert db.session.get(Invoice, invoice.id).status == "void"


def test_sign_in_form_itself_needs_the_token(client, staff):
    response = client.post("/login", data={"email": staff.email, "password": "correct horse battery staple"})
    assert response.status_code == 400
    assert client.get("/invoices/").status_code == 302


def test_the_page_puts_the_token_in_hx_headers(signed_in_staff):
    page = signed_in_staff.get("/invoices/").get_data(as_text=True)
    assert "hx-headers='{\"X-CSRFToken\": \"" in page


@pytest.mark.parametrize("path", ["/login", "/invoices/", "/api/v1/openapi.json", "/no/such/page", "/static/css/app.css"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in headers  # only in production


def test_pages_have_no_inline_script_or_style(signed_in_staff, make_invoice):
    invoice = make_invoice()
    for path in ("/invoices/", f"/invoices/{invoice.id}", "/invoices/new", f"/invoices/{invoice.id}/edit"):
        page = signed_in_staff.get(path).get_data(as_text=True)
        assert "<script>" not in page and "<style" not in page and " style=" not in page and "onclick" not in page


def test_production_sends_hsts_and_secure_cookies(tmp_path, database_url, migrated, monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "prod-secret")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": database_url})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/login")
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    assert "Secure" in response.headers["Set-Cookie"]


def test_production_refuses_to_start_without_a_secret_key(tmp_path, monkeypatch):
    from portal.config import ConfigError

    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        create_app({"INSTANCE_PATH": str(tmp_path)})


def test_forwarded_headers_are_trusted_only_from_configured_proxies(tmp_path, database_url, migrated, monkeypatch):
    from flask import request

    def seen(app):
        @app.get("/_whoami")
        def whoami():
            return f"{request.remote_addr} {request.scheme}"
        return app.test_client().get("/_whoami", headers={"X-Forwarded-For": "203.0.113.9",
                                                          "X-Forwarded-Proto": "https"},
                                     environ_base={"REMOTE_ADDR": "10.0.0.2"}).get_data(as_text=True)

    monkeypatch.setenv("TRUSTED_PROXY_COUNT", "0")
    assert seen(create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": database_url})) == "10.0.0.2 http"
    monkeypatch.setenv("TRUSTED_PROXY_COUNT", "1")
    assert seen(create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": database_url})) == "203.0.113.9 https"


def test_html_error_pages_for_people(signed_in_staff):
    response = signed_in_staff.get("/no/such/page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "Not Found" in response.get_data(as_text=True)


def test_oversized_request_is_refused_cleanly(app, signed_in_staff):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    response = signed_in_staff.post("/invoices/new", {"notes": "x" * 5000})
    assert response.status_code == 413


def test_qr_code_of_a_pay_link_is_kept_by_no_shared_cache(client, make_invoice):
    # The URL carries the pay token: a proxy or CDN must not keep it for others to find.
    invoice = make_invoice(open_it=True)
    response = client.get(f"/pay/{invoice.pay_token}/qr.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.cache_control.private and not response.cache_control.public
