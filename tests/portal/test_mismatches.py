"""Needs attention: staff see every mismatch; only admins mark one dealt with (issue 8, item 7)."""
from portal.extensions import db
from portal.models import AuditEvent, PaymentMismatch


def _mismatch(invoice, kind="overpaid", detail="paid 4,938.00 of 2,469.00: refund the difference"):
    row = PaymentMismatch(gateway="razorpay", invoice_id=invoice.id, link_id="plink_x", payment_id="pay_x",
                          kind=kind, detail=detail, source="webhook")
    db.session.add(row)
    db.session.commit()
    return row.id


def _resolutions():
    return db.session.scalar(db.select(db.func.count(AuditEvent.id)).where(AuditEvent.action == "mismatch.resolved"))


def test_staff_see_needs_attention_but_cannot_clear_it(signed_in_staff, make_invoice):
    invoice = make_invoice(open_it=True)
    ids = [_mismatch(invoice, kind) for kind in ("overpaid", "paid_void_invoice", "amount")]
    page = signed_in_staff.get("/gateways/").get_data(as_text=True)
    assert "Needs attention" in page and "paid void invoice" in page and "refund the difference" in page
    assert "/resolve" not in page and "Dealt with" not in page  # no button that would only fail
    for mismatch_id in ids:
        response = signed_in_staff.post(f"/gateways/mismatches/{mismatch_id}/resolve", token_page="/gateways/")
        assert response.status_code == 403
    db.session.expire_all()
    assert all(db.session.get(PaymentMismatch, i).resolved_at is None for i in ids)
    assert _resolutions() == 0
    assert "refund the difference" in signed_in_staff.get("/gateways/").get_data(as_text=True)


def test_an_admin_marks_a_mismatch_dealt_with(signed_in_admin, make_invoice):
    invoice = make_invoice(open_it=True)
    mismatch_id = _mismatch(invoice)
    page = signed_in_admin.get("/gateways/").get_data(as_text=True)
    assert f"/gateways/mismatches/{mismatch_id}/resolve" in page and "Dealt with" in page
    response = signed_in_admin.post(f"/gateways/mismatches/{mismatch_id}/resolve", token_page="/gateways/")
    assert response.status_code == 303
    assert db.session.get(PaymentMismatch, mismatch_id).resolved_at is not None
    assert _resolutions() == 1
    assert "refund the difference" not in signed_in_admin.get("/gateways/").get_data(as_text=True)
