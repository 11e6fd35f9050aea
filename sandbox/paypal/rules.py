"""Orders v2 request rules and PayPal's error bodies.

Currencies and no-decimal currencies: https://developer.paypal.com/reference/currency-codes/
(no INR; HUF, JPY, TWD take no decimals). Error names, issues and messages follow the schemas in
tests/reference/paypal/checkout_orders_v2.json (error_400, error_404, error_422, ...)."""

from __future__ import annotations

import re
from decimal import Decimal

from ..gateway import GatewayError

CURRENCIES = {"AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR", "MXN", "TWD", "NZD",
              "NOK", "PHP", "PLN", "GBP", "RUB", "SGD", "SEK", "CHF", "THB", "USD"}
NO_DECIMALS = {"HUF", "JPY", "TWD"}
VALUE_PATTERN = re.compile(r"^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$")  # money.value pattern in the spec

MESSAGES = {
    400: ("INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema."),
    401: ("AUTHENTICATION_FAILURE",
          "Authentication failed due to missing authorization header, or invalid authentication credentials."),
    404: ("RESOURCE_NOT_FOUND", "The specified resource does not exist."),
    422: ("UNPROCESSABLE_ENTITY",
          "The requested action could not be performed, semantically incorrect, or failed business validation."),
    403: ("NOT_AUTHORIZED", "Authorization failed due to insufficient permissions."),
    409: ("RESOURCE_CONFLICT", "The server has detected a conflict while processing this request."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "The server does not support the request payload's media type."),
    # 429 is not in the Orders spec; this is PayPal's documented rate-limit body
    # (https://developer.paypal.com/api/rest/reference/rate-limiting/).
    429: ("RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."),
    500: ("INTERNAL_SERVER_ERROR", "An internal server error occurred."),
    503: ("SERVICE_UNAVAILABLE", "Service Unavailable."),
}

DESCRIPTIONS = {
    "CURRENCY_NOT_SUPPORTED": "Currency code is not currently supported. Please refer "
                              "https://developer.paypal.com/docs/api/reference/currency-codes/ for list of supported "
                              "currency codes.",
    "DECIMALS_NOT_SUPPORTED": "Currency does not support decimals. Please refer to "
                              "https://developer.paypal.com/docs/api/reference/currency-codes/ for more information.",
    "DECIMAL_PRECISION": "If the currency supports decimals, only two decimal place precision is supported.",
    "CANNOT_BE_ZERO_OR_NEGATIVE": "Must be greater than zero. If the currency supports decimals, only two decimal "
                                  "place precision is supported.",
    "DUPLICATE_INVOICE_ID": "Duplicate Invoice ID detected. To avoid a potential duplicate transaction your account "
                            "setting requires that Invoice Id be unique for each transaction.",
    "ORDER_NOT_APPROVED": "Payer has not yet approved the Order for payment. Please redirect the payer to the "
                          "'rel':'approve' url returned as part of the HATEOAS links within the Create Order call or "
                          "provide a valid payment_source in the request.",
    "ORDER_ALREADY_CAPTURED": "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed.",
    "ORDER_EXPIRED": "The order has expired.",
    "MISSING_REQUIRED_PARAMETER": "A required field / parameter is missing.",
    "INVALID_PARAMETER_VALUE": "The value of a field is invalid.",
    "INVALID_PARAMETER_SYNTAX": "The value of a field does not conform to the expected format.",
    "INVALID_STRING_LENGTH": "The value of a field is either too short or too long.",
    "MALFORMED_REQUEST_JSON": "The request JSON is not well formed.",
    "DUPLICATE_REFERENCE_ID": "`reference_id` must be unique if multiple `purchase_unit` are provided.",
    "INVALID_RESOURCE_ID": "Specified resource ID does not exist. Please check the resource ID and try again.",
    "ACTION_DOES_NOT_MATCH_INTENT": "Order was created with an intent to 'AUTHORIZE'. Please use v2/checkout/orders/"
                                    "order_id/authorize to complete the transaction or alternately Create an order "
                                    "with an intent of 'CAPTURE'.",
}


def error_body(status: int, debug_id: str, issue: str | None = None, field: str | None = None,
               value: str | None = None, location: str | None = "body") -> dict:
    name, message = MESSAGES.get(status, MESSAGES[500])
    body: dict = {"name": name, "message": message, "debug_id": debug_id}
    if issue:
        detail = {"issue": issue, "description": DESCRIPTIONS.get(issue, issue)}
        if field:
            detail = {"field": field, **({"value": value} if value is not None else {}),
                      **({"location": location} if location else {}), **detail}
        body["details"] = [detail]
        body["links"] = [{"href": f"https://developer.paypal.com/docs/api/orders/v2/#error-{issue}",
                          "rel": "information_link", "method": "GET"}]
    else:
        body["links"] = [{"href": "https://developer.paypal.com/docs/api/overview/#error",
                          "rel": "information_link", "method": "GET"}]
    return body


class Problem(Exception):
    """A request problem before an id exists for debug_id; turned into GatewayError by the app."""

    def __init__(self, status: int, issue: str | None, field: str | None = None, value: str | None = None,
                 location: str | None = "body"):
        super().__init__(issue or status)
        self.status, self.issue, self.field, self.value, self.location = status, issue, field, value, location

    def to_error(self, debug_id: str) -> GatewayError:
        return GatewayError(self.status, error_body(self.status, debug_id, self.issue, self.field, self.value,
                                                    self.location), {"Paypal-Debug-Id": debug_id})


def to_minor(value: str, currency: str) -> int:
    exp = 0 if currency in NO_DECIMALS else 2
    return int(Decimal(value) * (10 ** exp))


def format_value(minor: int, currency: str) -> str:
    if currency in NO_DECIMALS:
        return str(minor)
    return f"{minor // 100}.{minor % 100:02d}"


REQUEST_ID_MAX = 108  # parameter paypal_request_id: maxLength 108


def check_media_type(mimetype: str, has_body: bool) -> None:
    """A body must be declared JSON (error_415 in the spec); a call without a body may omit the header."""
    declared = bool(mimetype)
    is_json = mimetype == "application/json" or mimetype.endswith("+json")
    if (has_body or declared) and not is_json:
        raise Problem(415, None)


def check_request_id(request_id: str) -> None:
    if len(request_id) > REQUEST_ID_MAX:
        # error_location has no "header" value (body, path, query), so the detail names the header only.
        raise Problem(400, "INVALID_STRING_LENGTH", "PayPal-Request-Id", request_id, location=None)


def check_amount(amount, pointer: str) -> tuple[str, int]:
    if not isinstance(amount, dict):
        raise Problem(400, "MISSING_REQUIRED_PARAMETER", pointer)
    currency, value = amount.get("currency_code"), amount.get("value")
    if currency is None:
        raise Problem(400, "MISSING_REQUIRED_PARAMETER", f"{pointer}/currency_code")
    if value is None:
        raise Problem(400, "MISSING_REQUIRED_PARAMETER", f"{pointer}/value")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise Problem(400, "INVALID_PARAMETER_SYNTAX", f"{pointer}/currency_code", str(currency))
    if not isinstance(value, str) or not VALUE_PATTERN.match(value) or len(value) > 32:
        raise Problem(400, "INVALID_PARAMETER_SYNTAX", f"{pointer}/value", str(value))
    if currency not in CURRENCIES:
        raise Problem(422, "CURRENCY_NOT_SUPPORTED", f"{pointer}/currency_code", currency)
    if "." in value and currency in NO_DECIMALS:
        raise Problem(422, "DECIMALS_NOT_SUPPORTED", f"{pointer}/value", value)
    if "." in value and len(value.split(".")[1]) > 2:
        raise Problem(422, "DECIMAL_PRECISION", f"{pointer}/value", value)
    if Decimal(value) <= 0:
        raise Problem(422, "CANNOT_BE_ZERO_OR_NEGATIVE", f"{pointer}/value", value)
    return currency, to_minor(value, currency)


def check_order_request(data) -> dict:
    """Validate an order_request; returns the return/cancel URLs and which style supplied them."""
    if not isinstance(data, dict):
        raise Problem(400, "MALFORMED_REQUEST_JSON")
    intent = data.get("intent")
    if intent is None:
        raise Problem(400, "MISSING_REQUIRED_PARAMETER", "/intent")
    if intent not in ("CAPTURE", "AUTHORIZE"):
        raise Problem(400, "INVALID_PARAMETER_VALUE", "/intent", str(intent))
    units = data.get("purchase_units")
    if units is None:
        raise Problem(400, "MISSING_REQUIRED_PARAMETER", "/purchase_units")
    if not isinstance(units, list) or not 1 <= len(units) <= 10:
        raise Problem(400, "INVALID_ARRAY_LENGTH" if isinstance(units, list) else "INVALID_PARAMETER_SYNTAX",
                      "/purchase_units")
    references = []
    for index, unit in enumerate(units):
        pointer = f"/purchase_units/{index}"
        if not isinstance(unit, dict):
            raise Problem(400, "INVALID_PARAMETER_SYNTAX", pointer)
        if "amount" not in unit:
            raise Problem(400, "MISSING_REQUIRED_PARAMETER", f"{pointer}/amount")
        check_amount(unit["amount"], f"{pointer}/amount")
        for key, limit in (("reference_id", 256), ("invoice_id", 127), ("custom_id", 127), ("description", 127)):
            if key in unit and (not isinstance(unit[key], str) or not 1 <= len(unit[key]) <= limit):
                raise Problem(400, "INVALID_STRING_LENGTH", f"{pointer}/{key}", str(unit[key]))
        references.append(unit.get("reference_id", "default"))
    if len(units) > 1 and len(set(references)) != len(references):
        raise Problem(422, "DUPLICATE_REFERENCE_ID", "/purchase_units")

    context, style = {}, None
    source = data.get("payment_source")
    if source is not None:
        if not isinstance(source, dict) or set(source) - {"paypal"}:
            raise Problem(422, "INVALID_PARAMETER_VALUE", "/payment_source")
        context = (source.get("paypal") or {}).get("experience_context") or {}
        style = "payment_source"
    elif isinstance(data.get("application_context"), dict):
        context = data["application_context"]
        style = "application_context"
    for key in ("return_url", "cancel_url"):
        if key in context and (not isinstance(context[key], str) or not re.match(r"https?://", context[key])):
            pointer = ("/payment_source/paypal/experience_context/" if style == "payment_source"
                       else "/application_context/") + key
            raise Problem(400, "INVALID_PARAMETER_SYNTAX", pointer, str(context[key]))
    return {"style": style, "return_url": context.get("return_url"), "cancel_url": context.get("cancel_url"),
            "user_action": context.get("user_action", "CONTINUE")}
