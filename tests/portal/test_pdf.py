"""The invoice and the receipt as PDF (issue 13): rendered by WeasyPrint, read back the way a person would, with
Debian's poppler-utils: the text by pdftotext, the look by pdftoppm against a reference page image."""
from __future__ import annotations

import http.server
import os
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from PIL import Image

from portal import pdf
from portal.extensions import db
from portal.invoices import service
from portal.models import MerchantSetting, Payment, TaxRate

REFERENCE = Path(__file__).parent / "pdf_reference"
# Regenerate after a deliberate change of the layout: UPDATE_PDF_REFERENCE=1 .venv/bin/python -m pytest tests/portal/test_pdf.py
UPDATE = os.environ.get("UPDATE_PDF_REFERENCE") == "1"



def text_of(data: bytes) -> str:
    """The text as laid out on the page, one printed line per line, runs of spaces made one."""
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True).stdout
    return "\n".join(" ".join(line.split()) for line in out.decode().splitlines())


def page_image(data: bytes, page: int = 1) -> Image.Image:
    """Page `page` as poppler draws it: grey, 30 dots per inch (an A4 page is 248 x 351)."""
    with tempfile.TemporaryDirectory() as folder:
        source, root = Path(folder, "doc.pdf"), Path(folder, "page")
        source.write_bytes(data)
        subprocess.run(["pdftoppm", "-r", "30", "-gray", "-png", "-singlefile", "-f", str(page), "-l", str(page),
                        str(source), str(root)], capture_output=True, check=True)
        with Image.open(f"{root}.png") as image:
            return image.convert("L")


def ink_grid(image: Image.Image, columns: int = 8, rows: int = 12) -> list[list[float]]:
    """How much ink each cell of a columns x rows grid holds (0 blank, 255 black): where the blocks of the page
    are, not which digits they show, so today's date or a new pay token does not matter and a moved block does."""
    width, height = image.size
    pixels = image.load()
    grid = []
    for r in range(rows):
        row = []
        for c in range(columns):
            box = [(x, y) for x in range(c * width // columns, (c + 1) * width // columns)
                   for y in range(r * height // rows, (r + 1) * height // rows)]
            row.append(sum(255 - pixels[x, y] for x, y in box) / len(box))
        grid.append(row)
    return grid


def same_layout(image: Image.Image, reference: Image.Image) -> tuple[bool, float]:
    if image.size != reference.size:
        return False, float("inf")
    a, b = ink_grid(image), ink_grid(reference)
    worst = max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
    return worst <= 3, worst  # a changed date or digit moves a cell by about 1; a missing line of text by 4 or more


@pytest.fixture
def merchant(app):
    db.session.add(MerchantSetting(id=1, business_name="Nilgiri Design Studio", default_currency="INR",
                                   address="2nd floor, 14 Residency Road\nBengaluru 560025", tax_id="29ABCDE1234F1Z5",
                                   time_zone="Asia/Kolkata", payment_terms_days=14,
                                   invoice_footer="Bank: HDFC 0001 2345 6789, IFSC HDFC0000123\nThank you for your business!"))
    gst18, gst5 = TaxRate(name="GST 18%", percent_milli=18_000), TaxRate(name="GST 5%", percent_milli=5_000)
    db.session.add_all([gst18, gst5])
    db.session.commit()
    from portal.merchant.profile import forget_cached
    forget_cached()
    return gst18.id, gst5.id


@pytest.fixture
def taxed_invoice(merchant, staff):
    gst18, gst5 = merchant
    data = {"customer": {"name": "Asha Traders Private Limited", "email": "accounts@asha.example"}, "currency": "INR",
            "items": [{"description": "Logo design, three rounds", "quantity": "1", "unit_price": "45000.00",
                       "tax_rate_id": gst18},
                      {"description": "Printed brochures (A5, 500 copies)", "quantity": "2.5", "unit_price": "1999.99",
                       "tax_rate_id": gst5},
                      {"description": "Courier", "quantity": "1", "unit_price": "350.00"}],
            "discount": {"type": "percent", "value": "10"}, "due_date": "2026-12-20", "notes": "Your order PO 4471"}
    invoice = service.create_invoice(service.parse_invoice_input(data), staff)
    service.open_invoice(invoice, staff)
    db.session.commit()
    return invoice


def test_the_invoice_pdf_has_every_line_tax_discount_total_and_the_pay_link(taxed_invoice, signed_in_staff):
    response = signed_in_staff.get(f"/invoices/{taxed_invoice.id}/invoice.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'inline; filename="invoice-{taxed_invoice.number}.pdf"'
    text = text_of(response.data)
    for expected in (
            "INVOICE", f"{taxed_invoice.number}", "Nilgiri Design Studio", "Bengaluru 560025", "Tax ID 29ABCDE1234F1Z5",
            "Asha Traders Private Limited", "Due 2026-12-20",
            "Logo design, three rounds 1 ₹45,000.00 ₹45,000.00\nGST 18%",
            "Printed brochures (A5, 500 copies) 2.5 ₹1,999.99 ₹4,999.98\nGST 5%",
            "Courier 1 ₹350.00 ₹350.00",
            "Subtotal ₹50,349.98", "Discount (10 %) −₹5,035.00",
            "GST 18% on ₹40,500.00 ₹7,290.00", "GST 5% on ₹4,499.98 ₹225.00",
            "Total ₹52,829.98", "Amount due ₹52,829.98",
            f"https://portal.example/pay/{taxed_invoice.pay_token}",
            "Your order PO 4471", "Bank: HDFC 0001 2345 6789", "Page 1 of 1"):
        assert expected in text, expected


def test_the_invoice_pdf_looks_like_the_reference_page(taxed_invoice):
    taxed_invoice.pay_token = "reference-page-token-0123456789ab"  # the same QR code on every run
    image = page_image(pdf.invoice_pdf(taxed_invoice))
    reference_file = REFERENCE / "invoice-page-1.png"
    if UPDATE:
        REFERENCE.mkdir(exist_ok=True)
        image.save(reference_file)
    ok, worst = same_layout(image, Image.open(reference_file).convert("L"))
    assert ok, f"page 1 differs from {reference_file.name} by up to {worst:.0f}/255 of ink in a cell"
    # The QR code of the pay page sits beside its link: a dense block of ink in the left half, under the totals.
    grid = ink_grid(image)
    assert max(grid[r][1] for r in range(6, 9)) > 60


def test_the_comparison_notices_a_changed_layout(taxed_invoice, staff):
    """The layout check is not blind: the same invoice without discount and taxes (two rows fewer in the totals)
    and a receipt both fail it."""
    reference = Image.open(REFERENCE / "invoice-page-1.png").convert("L")
    taxed_invoice.pay_token = "reference-page-token-0123456789ab"
    assert same_layout(page_image(pdf.invoice_pdf(taxed_invoice)), reference)[0]
    plain = service.create_invoice(service.parse_invoice_input({
        "customer": {"name": "Asha Traders Private Limited", "email": "accounts@asha.example"}, "currency": "INR",
        "items": [{"description": "Logo design, three rounds", "quantity": "1", "unit_price": "45000.00"},
                  {"description": "Printed brochures (A5, 500 copies)", "quantity": "2.5", "unit_price": "1999.99"},
                  {"description": "Courier", "quantity": "1", "unit_price": "350.00"}],
        "due_date": "2026-12-20", "notes": "Your order PO 4471"}), staff)
    service.open_invoice(plain, staff)
    db.session.commit()
    assert not same_layout(page_image(pdf.invoice_pdf(plain)), reference)[0]
    blank = Image.new("L", reference.size, 255)
    assert not same_layout(blank, reference)[0]


def _pay(invoice, amount_minor: int, payment_id: str):
    from tests.portal.test_mail import _pay as pay_through_a_link
    pay_through_a_link(invoice, amount_minor, payment_id)
    return db.session.scalar(db.select(Payment).where(Payment.payment_id == payment_id))


def test_the_receipt_pdf_says_what_was_paid_how_and_what_is_still_due(taxed_invoice, signed_in_staff):
    taxed_invoice.accept_partial = True
    db.session.commit()
    payment = _pay(taxed_invoice, 20_000_00, "pay_receipt_1")
    response = signed_in_staff.get(f"/invoices/{taxed_invoice.id}/payments/{payment.id}/receipt.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = text_of(response.data)
    for expected in ("RECEIPT", f"for invoice {taxed_invoice.number}", "Asha Traders Private Limited",
                     "Amount received ₹20,000.00", "Paid with Razorpay", "Payment id pay_receipt_1",
                     "Invoice total ₹52,829.98", "Still due ₹32,829.98", "Nilgiri Design Studio"):
        assert expected in text, expected


def test_customers_download_from_the_pay_page_and_nothing_else(taxed_invoice, make_invoice, client, staff):
    taxed_invoice.accept_partial = True
    db.session.commit()
    payment = _pay(taxed_invoice, 10_000_00, "pay_public_1")
    token = taxed_invoice.pay_token
    page = client.get(f"/pay/{token}").get_data(as_text=True)
    assert f'href="/pay/{token}/invoice.pdf"' in page and f'href="/pay/{token}/receipts/{payment.id}.pdf"' in page
    document = client.get(f"/pay/{token}/invoice.pdf")
    assert document.status_code == 200 and document.mimetype == "application/pdf"
    assert document.headers["Cache-Control"] == "private, no-store"  # the URL carries the pay token
    assert "Amount due ₹42,829.98" in text_of(document.data)
    assert client.get(f"/pay/{token}/receipts/{payment.id}.pdf").status_code == 200

    other = make_invoice(open_it=True, email="someone@else.example", accept_partial="on")
    theirs = _pay(other, 500_00, "pay_theirs_1")
    assert client.get(f"/pay/{token}/receipts/{theirs.id}.pdf").status_code == 404  # another invoice's payment
    assert client.get(f"/pay/{token}/receipts/999999.pdf").status_code == 404
    assert client.get(f"/pay/{'x' * 32}/invoice.pdf").status_code == 404  # a guessed token
    draft = make_invoice()
    assert client.get(f"/pay/{draft.pay_token}/invoice.pdf").status_code == 404  # drafts are not the customer's yet
    # The staff URLs need a sign-in.
    assert client.get(f"/invoices/{taxed_invoice.id}/invoice.pdf").status_code == 302
    assert client.get(f"/invoices/{taxed_invoice.id}/payments/{payment.id}/receipt.pdf").status_code == 302


class _Listener(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        _Listener.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_rendering_fetches_nothing_whatever_the_invoice_says(merchant, staff, signed_in_staff):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    here = f"http://127.0.0.1:{server.server_address[1]}"
    _Listener.hits = []
    try:
        hostile = (f'<img src="{here}/img"><link rel="stylesheet" href="{here}/css">'
                   f'<style>@import url({here}/import);</style><link rel=stylesheet href="file:///etc/passwd">')
        invoice = service.create_invoice(service.parse_invoice_input({
            "customer": {"name": f"Mallory {hostile[:120]}", "email": "m@example.com"}, "currency": "INR",
            "items": [{"description": hostile[:500], "quantity": "1", "unit_price": "10.00"}],
            "notes": hostile}), staff)
        service.open_invoice(invoice, staff)
        db.session.commit()
        text = " ".join(text_of(signed_in_staff.get(f"/invoices/{invoice.id}/invoice.pdf").data).split())  # one line
        assert f'<img src="{here}/img">' in text  # shown as the text it is
        # And were escaping ever bypassed, the renderer itself refuses every URL but data:.
        with signed_in_staff.client.application.test_request_context():
            raw = pdf.html_to_pdf(f"<p>hello</p>{hostile}<img src='data:image/gif;base64,R0lGODlhAQABAAAAACw='>")
        assert "hello" in text_of(raw)
    finally:
        server.shutdown()
    assert _Listener.hits == []
