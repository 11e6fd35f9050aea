"""The OpenAPI 3 description of `/api/v1`, served at `/api/v1/openapi.json`."""
from ..models import STATUSES
from ..validation import MAX_CURSOR_LENGTH, MAX_ID, MAX_PAGE, MAX_PER_PAGE, MAX_SEARCH_LENGTH

_money = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "example": "1234.50",
          "description": "Decimal string in major units; never a float."}
_minor = {"type": "integer", "description": "Integer amount in the currency's minor unit."}
_error = {"$ref": "#/components/schemas/Error"}
_rate = {"type": "number", "nullable": True, "minimum": 0, "description": "A ratio (0.25 = 25 %); null when nothing was counted"}
_NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"  # portal/validation.py refuses them in any query string


def _responses(ok_code: str, ok_schema: dict, *errors: str) -> dict:
    described = {
        "400": "Malformed request or parameter (any query value with NUL or control characters, for one)",
        "401": "Missing or invalid API token",
        "404": "No such invoice (or customer, or payment)",
        "409": "The invoice's (or payment's) status does not allow this",
        "422": "Validation failed; `error.fields` names each bad field",
    }
    out = {ok_code: {"description": "OK", "content": {"application/json": {"schema": ok_schema}}}}
    for code in errors:
        out[code] = {"description": described[code], "content": {"application/json": {"schema": _error}}}
    return out


_invoice_ref = {"$ref": "#/components/schemas/Invoice"}
_customer_ref = {"$ref": "#/components/schemas/CustomerRecord"}
_refund_ref = {"$ref": "#/components/schemas/Refund"}
_owed = {"type": "object", "required": ["currency", "amount", "amount_minor"],
         "properties": {"currency": {"type": "string"}, "amount": _money, "amount_minor": _minor}}
_id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}


def _replace_draft() -> dict:
    return {
        "summary": "Replace a draft invoice's contents",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/InvoiceInput"}}}},
        "responses": _responses("200", _invoice_ref, "400", "401", "404", "409", "422"),
    }


def openapi_document() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "HisabPro API", "version": "1.0.0",
                 "description": "Invoices and payment links for HisabPro merchants. "
                                "Amounts are decimal strings in major units plus integer minor units."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/invoices": {
                "get": {
                    "summary": "List invoices, newest first",
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
                        {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": MAX_SEARCH_LENGTH,
                                                               "pattern": _NO_CONTROL_CHARACTERS},
                         "description": "Search by number, customer name or email"},
                        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
                        {"name": "per_page", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}},
                        {"name": "cursor", "in": "query",
                         "schema": {"type": "string", "maxLength": MAX_CURSOR_LENGTH,
                                    "pattern": _NO_CONTROL_CHARACTERS},
                         "description": "next_cursor from a previous answer: the page after it (keyset "
                                        "pagination, as fast however deep); not with page"},
                    ],
                    "responses": _responses("200", {"$ref": "#/components/schemas/InvoicePage"}, "400", "401"),
                },
                "post": {
                    "summary": "Create a draft invoice",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/InvoiceInput"}}}},
                    "responses": _responses("201", _invoice_ref, "400", "401", "422"),
                },
            },
            "/invoices/{id}": {
                "parameters": [_id_param],
                "get": {"summary": "One invoice", "responses": _responses("200", _invoice_ref, "400", "401", "404")},
                # PATCH and PUT are the same call: both replace the whole contents of a draft.
                "patch": _replace_draft(),
                "put": _replace_draft(),
            },
            "/invoices/{id}/open": {
                "parameters": [_id_param],
                "post": {"summary": "Issue a draft invoice to the customer",
                         "responses": _responses("200", _invoice_ref, "400", "401", "404", "409")},
            },
            "/invoices/{id}/void": {
                "parameters": [_id_param],
                "post": {"summary": "Void an invoice (not once money was received)",
                         "responses": _responses("200", _invoice_ref, "400", "401", "404", "409")},
            },
            "/invoices/{id}/payment-link": {
                "parameters": [_id_param],
                "post": {
                    "summary": "Get the invoice's one live payment link, creating it through the best gateway",
                    "description": "Reuses a live link for the amount due (`cached: true`, no gateway call); otherwise "
                                   "routes by currency, retries transient failures and falls back to the next "
                                   "gateway. Opens a draft invoice.",
                    "requestBody": {"required": False, "content": {"application/json": {"schema": {
                        "type": "object", "properties": {"gateway": {"type": "string", "enum": ["razorpay", "stripe", "paypal"]}}}}}},
                    "responses": {
                        **_responses("200", {"$ref": "#/components/schemas/PaymentLink"}, "400", "401", "404", "409", "422"),
                        "503": {"description": "No gateway could create a link (`no_gateway_available`); retry later",
                                "content": {"application/json": {"schema": _error}}},
                    },
                },
            },
            "/payments/{id}/refunds": {
                "parameters": [{**_id_param, "description": "The payment's `id` in an invoice's `payments`"}],
                "get": {"summary": "A payment's refunds, oldest first",
                        "responses": _responses("200", {"type": "object", "properties": {"items": {
                            "type": "array", "items": _refund_ref}}}, "401", "404")},
                "post": {
                    "summary": "Refund part or all of a payment through its gateway (admins only)",
                    "description": "Never more than is left of the payment (its amount less refunds not failed and "
                                   "lost disputes): more is refused with 422 `refund_exceeds_payment` and no gateway "
                                   "call. Without `amount`, everything that is left. Send an `Idempotency-Key` header "
                                   "to make a retried request answer the first refund instead of making another. "
                                   "201: made, or pending at the gateway (followed by webhook and reconciliation); "
                                   "200: the same Idempotency-Key again; 202: the gateway's answer was lost and the "
                                   "refund is being confirmed by its reference (never made twice); 409 "
                                   "`payment_disputed`; 422 `refund_failed` when the gateway refused it; 503 "
                                   "`gateway_unavailable` when it could not be reached (nothing was refunded).",
                    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                    "schema": {"type": "string", "maxLength": 255}}],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "additionalProperties": False, "properties": {
                            "amount": {**_money, "description": "In the payment's currency; default: all that is left"},
                            "reason": {"type": "string", "maxLength": 500}}}}}},
                    "responses": {
                        **_responses("201", _refund_ref, "400", "401", "404", "409", "422"),
                        "200": {"description": "The refund this Idempotency-Key already made",
                                "content": {"application/json": {"schema": _refund_ref}}},
                        "202": {"description": "Asked for; the gateway's answer was lost, so it is being confirmed",
                                "content": {"application/json": {"schema": _refund_ref}}},
                        "403": {"description": "Only admins can refund", "content": {"application/json": {"schema": _error}}},
                        "503": {"description": "The gateway could not be reached; nothing was refunded",
                                "content": {"application/json": {"schema": _error}}},
                    },
                },
            },
            "/customers": {
                "get": {
                    "summary": "List customers as they are now, by name, with what each still owes",
                    "parameters": [
                        {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": MAX_SEARCH_LENGTH,
                                                               "pattern": _NO_CONTROL_CHARACTERS},
                         "description": "Search by name, email or phone"},
                        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
                        {"name": "per_page", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}},
                    ],
                    "responses": _responses("200", {"$ref": "#/components/schemas/CustomerPage"}, "400", "401"),
                },
            },
            "/customers/{id}": {
                "parameters": [_id_param],
                "get": {"summary": "One customer with totals per currency",
                        "description": "The id of an older version of a customer's details (an invoice issued "
                                       "before an edit points at one) answers with the customer as they are now.",
                        "responses": _responses("200", _customer_ref, "400", "401", "404")},
            },
            "/gateways": {
                "get": {"summary": "Every gateway with its configuration, breaker state, success rate and latency",
                        "responses": _responses("200", {"type": "array", "items": {"$ref": "#/components/schemas/Gateway"}}, "400", "401")},
            },
            "/payments/statistics": {
                "get": {"summary": "Payment statistics for a period and currency: what the Statistics page shows",
                        "description": "Days are the merchant's (its time zone, in `period.time_zone`). Without "
                                       "`from` and `to` the period is all time, as this call always answered; "
                                       "`to` alone counts from the first recorded day, `from` alone up to today. "
                                       "Breaker openings are derived from the attempt log. Latency percentiles "
                                       "are exact below 100 ms, to 10 ms below 1 s, to 100 ms below 10 s. "
                                       "Latency and breaker openings belong to a gateway: with `currency` they "
                                       "still count every call to it; every other number follows the currency.",
                        "parameters": [
                            {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"},
                             "description": "First day, YYYY-MM-DD (included)"},
                            {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"},
                             "description": "Last day, YYYY-MM-DD (included); default today"},
                            {"name": "currency", "in": "query",
                             "schema": {"type": "string", "maxLength": 10, "pattern": _NO_CONTROL_CHARACTERS},
                             "description": "Only this currency's invoices (ISO 4217, e.g. INR); default all"},
                        ],
                        "responses": _responses("200", {"$ref": "#/components/schemas/Statistics"}, "400", "401")
                        | {"422": {"description": "`from` after `to`, a period over 3660 days, or an unknown "
                                                  "currency (`invalid_period`); nothing is computed",
                                   "content": {"application/json": {"schema": _error}}}}},
            },
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "Create one with `flask --app wsgi api-tokens create EMAIL`."}},
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string", "example": "validation_failed"},
                        "message": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    }}},
                },
                "Customer": {
                    "type": "object", "required": ["name", "email"],
                    "properties": {"name": {"type": "string", "maxLength": 200},
                                   "email": {"type": "string", "format": "email"},
                                   "phone": {"type": "string", "nullable": True}},
                },
                "InvoiceInput": {
                    "type": "object", "required": ["customer", "currency", "items"],
                    "properties": {
                        "customer": {"$ref": "#/components/schemas/Customer"},
                        "currency": {"type": "string", "example": "INR", "description": "ISO 4217 code"},
                        "items": {"type": "array", "minItems": 1, "maxItems": 100, "items": {
                            "type": "object", "required": ["description", "unit_price"],
                            "properties": {"description": {"type": "string", "maxLength": 500},
                                           "quantity": {"oneOf": [
                                               {"type": "integer", "minimum": 1},
                                               {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,3})?$",
                                                "example": "1.5"}],
                                               "default": 1,
                                               "description": "Up to 3 decimals, as text (\"1.5\"); at most "
                                                              "1,000,000. A JSON fraction (1.5) is refused."},
                                           "unit_price": _money,
                                           "tax_rate_id": {"type": "integer", "nullable": True,
                                                           "description": "An active tax rate's id; omit for no tax"},
                                           "tax_rate": {"type": "string", "nullable": True, "example": "GST 18%",
                                                        "description": "Or the active tax rate's name"}}}},
                        "discount": {"type": "object", "nullable": True,
                                     "description": "An invoice discount, shared over the lines before tax "
                                                    "(README: How totals are computed)",
                                     "properties": {"type": {"type": "string", "enum": ["percent", "amount"]},
                                                    "value": {"type": "string", "example": "10",
                                                              "description": "A percent (up to 3 decimals, at "
                                                                             "most 100) or an amount in the "
                                                                             "invoice currency"}}},
                        "due_date": {"type": "string", "format": "date"},
                        "notes": {"type": "string", "maxLength": 5000},
                        "accept_partial": {"type": "boolean", "default": False,
                                           "description": "Let the customer pay in parts (Razorpay)"},
                    },
                },
                "Invoice": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"}, "number": {"type": "string", "example": "INV-2026-0001"},
                        "status": {"type": "string", "enum": list(STATUSES)},
                        "currency": {"type": "string"}, "amount": _money, "amount_minor": _minor,
                        "amount_paid": _money, "amount_paid_minor": _minor, "amount_due_minor": _minor,
                        "customer": {"$ref": "#/components/schemas/Customer"},
                        "items": {"type": "array", "items": {"type": "object", "properties": {
                            "description": {"type": "string"},
                            "quantity": {"oneOf": [{"type": "integer"}, {"type": "string"}],
                                         "description": "An integer when whole, else exact text (\"1.5\")"},
                            "quantity_milli": {"type": "integer", "description": "Thousandths: 1.5 -> 1500"},
                            "unit_price": _money, "unit_price_minor": _minor,
                            "amount": _money, "amount_minor": _minor,
                            "tax_rate_id": {"type": "integer", "nullable": True},
                            "tax_rate": {"type": "object", "nullable": True, "properties": {
                                "name": {"type": "string"}, "percent": {"type": "string", "example": "18"}}},
                            "discount_minor": _minor, "tax_minor": _minor}}},
                        "subtotal": _money, "subtotal_minor": _minor,
                        "discount": {"type": "object", "nullable": True, "properties": {
                            "type": {"type": "string", "enum": ["percent", "amount"]},
                            "value": {"type": "string"}, "amount": _money, "amount_minor": _minor}},
                        "taxes": {"type": "array", "description": "One entry per tax rate used",
                                  "items": {"type": "object", "properties": {
                                      "name": {"type": "string"}, "percent": {"type": "string"},
                                      "taxable": _money, "taxable_minor": _minor,
                                      "amount": _money, "amount_minor": _minor}}},
                        "tax": _money, "tax_minor": _minor,
                        "total": _money, "total_minor": _minor,
                        "due_date": {"type": "string", "format": "date", "nullable": True},
                        "notes": {"type": "string"},
                        "pay_url": {"type": "string", "format": "uri"},
                        "html_url": {"type": "string", "format": "uri"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "opened_at": {"type": "string", "format": "date-time", "nullable": True},
                        "paid_at": {"type": "string", "format": "date-time", "nullable": True},
                        "voided_at": {"type": "string", "format": "date-time", "nullable": True},
                        "links": {"type": "array", "items": {"type": "object", "properties": {
                            "gateway": {"type": "string"}, "link_id": {"type": "string"},
                            "url": {"type": "string"}, "status": {"type": "string"},
                            "created_at": {"type": "string", "format": "date-time"},
                            "expires_at": {"type": "string", "format": "date-time", "nullable": True}}}},
                        "payments": {"type": "array", "items": {"$ref": "#/components/schemas/Payment"}},
                        "amount_refunded": _money, "amount_refunded_minor": _minor,
                        "amount_charged_back_minor": {**_minor, "description": "Lost to disputes"},
                        "collected_net": _money, "collected_net_minor": {
                            **_minor, "description": "Paid, less refunds and lost disputes"},
                    },
                },
                "Payment": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer", "description": "For /payments/{id}/refunds"},
                        "gateway": {"type": "string"}, "payment_id": {"type": "string"},
                        "amount": _money, "amount_minor": _minor, "currency": {"type": "string"},
                        "status": {"type": "string", "enum": ["captured", "partially_refunded", "refunded", "disputed",
                                                              "charged_back"]},
                        "source": {"type": "string"},
                        "received_at": {"type": "string", "format": "date-time"},
                        "amount_refunded": _money, "amount_refunded_minor": _minor,
                        "refundable_minor": {**_minor, "description": "What may still be refunded"},
                        "refunds": {"type": "array", "items": _refund_ref},
                        "disputes": {"type": "array", "items": {"$ref": "#/components/schemas/Dispute"}},
                    },
                },
                "Refund": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"}, "payment_id": {"type": "integer"}, "gateway": {"type": "string"},
                        "refund_id": {"type": "string", "nullable": True, "description": "The gateway's id"},
                        "amount": _money, "amount_minor": _minor, "currency": {"type": "string"},
                        "status": {"type": "string", "enum": ["pending", "succeeded", "failed"]},
                        "reason": {"type": "string"}, "failure": {"type": "string", "nullable": True},
                        "source": {"type": "string", "description": "portal or api (asked here); webhook or "
                                                                    "reconcile (made at the gateway)"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "settled_at": {"type": "string", "format": "date-time", "nullable": True},
                    },
                },
                "Dispute": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"}, "gateway": {"type": "string"}, "dispute_id": {"type": "string"},
                        "amount": _money, "amount_minor": _minor, "currency": {"type": "string"},
                        "status": {"type": "string", "enum": ["open", "under_review", "won", "lost"]},
                        "reason": {"type": "string"},
                        "respond_by": {"type": "string", "format": "date-time", "nullable": True},
                        "opened_at": {"type": "string", "format": "date-time"},
                        "closed_at": {"type": "string", "format": "date-time", "nullable": True},
                    },
                },
                "PaymentLink": {
                    "type": "object",
                    "properties": {
                        "gateway": {"type": "string"}, "url": {"type": "string", "format": "uri"},
                        "link_id": {"type": "string"}, "cached": {"type": "boolean"},
                        "expires_at": {"type": "string", "format": "date-time", "nullable": True},
                        "amount": _money, "amount_minor": _minor, "currency": {"type": "string"},
                        "reason": {"type": "string", "description": "Why this gateway, and what failed first"},
                        "fallback": {"type": "boolean"},
                        "attempts": {"type": "array", "items": {"type": "object", "properties": {
                            "gateway": {"type": "string"}, "operation": {"type": "string"},
                            "attempt": {"type": "integer"}, "outcome": {"type": "string"},
                            "error_code": {"type": "string", "nullable": True},
                            "duration_ms": {"type": "integer"}}}},
                    },
                },
                "Gateway": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"}, "display_name": {"type": "string"},
                        "configured": {"type": "boolean"}, "enabled": {"type": "boolean"},
                        "test_mode": {"type": "boolean", "nullable": True},
                        "breaker": {"type": "string", "enum": ["closed", "open", "half_open"]},
                        "success_rate": {"type": "number", "nullable": True},
                        "latency_ms": {"type": "object", "properties": {
                            "p50": {"type": "integer", "nullable": True}, "p95": {"type": "integer", "nullable": True}}},
                        "last_error": {"type": "object", "nullable": True},
                        "last_webhook_at": {"type": "string", "format": "date-time", "nullable": True},
                        "state": {"type": "string", "enum": ["working", "slow", "down", "recovering", "off",
                                                             "not_configured"],
                                  "description": "The gateway's state, as the Gateways page, Home and "
                                                 "`payments check` name it (one definition)"},
                        "sentence": {"type": "string",
                                     "description": "The state in words, times in the merchant's time zone: "
                                                    "\"Working\", \"Slow: answers in 2.4 s\", \"Down since 10:42 "
                                                    "(12 failed calls); INR payments go through Stripe\", "
                                                    "\"Recovering: the next payment tests it\", \"Switched off by "
                                                    "an admin\", \"Not configured: set RAZORPAY_KEY_ID and "
                                                    "RAZORPAY_KEY_SECRET\""},
                    },
                },
                "Statistics": {
                    "type": "object",
                    "required": ["total_gateways", "enabled_gateways", "links_created", "links_paid", "cache_hits",
                                 "cache_misses", "cache_hit_rate", "retries", "retry_successes",
                                 "retry_success_rate", "fallbacks", "by_gateway", "collected", "period", "daily"],
                    "properties": {k: {"type": "integer"} for k in (
                        "total_gateways", "configured_gateways", "enabled_gateways", "links_created", "links_failed",
                        "links_paid", "cache_hits", "cache_misses", "retries", "retry_successes", "fallbacks",
                        "fallbacks_given", "payments", "attempts", "breaker_openings", "refunds", "chargebacks")} | {
                        "cache_hit_rate": _rate,
                        "retry_success_rate": _rate,
                        "conversion_rate": {**_rate, "description": "links paid per link created in the period"},
                        "average_seconds_to_pay": {"type": "integer", "nullable": True,
                                                   "description": "from a link's creation to its first payment"},
                        "currency": {"type": "string", "nullable": True},
                        "period": {"type": "object", "properties": {
                            "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
                            "days": {"type": "integer"}, "all_time": {"type": "boolean"},
                            "time_zone": {"type": "string"}}},
                        "by_gateway": {"type": "object", "additionalProperties": {
                            "$ref": "#/components/schemas/GatewayStatistics"}},
                        "collected": {"type": "object", "additionalProperties": _money},
                        "collected_minor": {"type": "object", "additionalProperties": _minor},
                        "refunded": {"type": "object", "additionalProperties": _money,
                                     "description": "refunds that succeeded, by the day they settled"},
                        "refunded_minor": {"type": "object", "additionalProperties": _minor},
                        "charged_back": {"type": "object", "additionalProperties": _money,
                                         "description": "disputes lost, by the day they closed"},
                        "charged_back_minor": {"type": "object", "additionalProperties": _minor},
                        "net": {"type": "object", "additionalProperties": _money,
                                "description": "collected - refunded - charged_back; can be negative"},
                        "net_minor": {"type": "object", "additionalProperties": _minor},
                        "reasons": {"type": "array", "items": {"type": "object", "properties": {
                            "gateway": {"type": "string"}, "kind": {"type": "string"},
                            "code": {"type": "string", "nullable": True}, "count": {"type": "integer"},
                            "words": {"type": "string", "example": "Razorpay could not be reached (connection_failed)"}}}},
                        "daily": {"type": "array", "items": {"type": "object", "properties": {
                            "date": {"type": "string", "format": "date"},
                            "links_created": {"type": "integer"}, "links_paid": {"type": "integer"},
                            "collected": {"type": "object", "additionalProperties": _money},
                            "refunded": {"type": "object", "additionalProperties": _money},
                            "charged_back": {"type": "object", "additionalProperties": _money},
                            "net": {"type": "object", "additionalProperties": _money},
                            "by_gateway": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                                "attempts": {"type": "integer"}, "successes": {"type": "integer"},
                                "success_rate": _rate}}}}}},
                    },
                },
                "GatewayStatistics": {
                    "type": "object",
                    "properties": {k: {"type": "integer"} for k in (
                        "calls", "attempts", "successes", "failures", "retries", "retry_successes", "links_created",
                        "cache_hits", "fallbacks_received", "fallbacks_given", "breaker_openings", "refunds")} | {
                        "display_name": {"type": "string"},
                        "configured": {"type": "boolean"}, "enabled": {"type": "boolean"},
                        "breaker": {"type": "string", "enum": ["closed", "open", "half_open"]},
                        "success_rate": _rate, "retry_success_rate": _rate,
                        "latency_ms": {"type": "object", "properties": {
                            "p50": {"type": "integer", "nullable": True}, "p95": {"type": "integer", "nullable": True}}},
                        "collected": {"type": "object", "additionalProperties": _money},
                        "refunded": {"type": "object", "additionalProperties": _money},
                        "charged_back": {"type": "object", "additionalProperties": _money},
                        "net": {"type": "object", "additionalProperties": _money},
                    },
                },
                "CustomerRecord": {
                    "type": "object", "required": ["id", "name", "email", "outstanding"],
                    "properties": {
                        "id": {"type": "integer"}, "name": {"type": "string"},
                        "email": {"type": "string", "format": "email"},
                        "phone": {"type": "string", "nullable": True},
                        "outstanding": {"type": "array", "items": _owed,
                                        "description": "Still owed on open and part-paid invoices, per currency"},
                        "html_url": {"type": "string", "format": "uri"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "totals": {"type": "array", "description": "Only on GET /customers/{id}", "items": {
                            "type": "object", "properties": {
                                "currency": {"type": "string"},
                                "invoiced": _money, "invoiced_minor": _minor,
                                "paid": _money, "paid_minor": _minor,
                                "outstanding": _money, "outstanding_minor": _minor}}},
                    },
                },
                "CustomerPage": {
                    "type": "object", "required": ["items", "page", "per_page", "total"],
                    "properties": {"items": {"type": "array", "items": _customer_ref},
                                   "page": {"type": "integer"}, "per_page": {"type": "integer"},
                                   "total": {"type": "integer"}},
                },
                "InvoicePage": {
                    "type": "object", "required": ["items", "page", "per_page", "total", "next_cursor"],
                    "properties": {"items": {"type": "array", "items": _invoice_ref},
                                   "page": {"type": "integer", "nullable": True,
                                            "description": "null when the page was asked for by cursor"},
                                   "per_page": {"type": "integer"},
                                   "total": {"type": "integer"},
                                   "next_cursor": {"type": "string", "nullable": True,
                                                   "description": "pass as cursor for the next page; "
                                                                  "null on the last page"}},
                },
            },
        },
    }
