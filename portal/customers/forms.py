from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, TelField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from ..invoices.service import EMAIL_RE, PHONE_RE


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _lower(value):
    return value.lower() if isinstance(value, str) else value


class CustomerForm(FlaskForm):
    # The same rules as a customer typed on the invoice form (portal/invoices/service.py).
    name = StringField("Name", filters=[_strip], validators=[
        DataRequired("Enter the customer's name."), Length(max=200, message="Use at most 200 characters.")])
    email = EmailField("Email", filters=[_strip, _lower], validators=[
        DataRequired("Enter the customer's email address."),
        Length(max=254, message="Use at most 254 characters."),
        Regexp(EMAIL_RE, message="Enter an email address like name@example.com.")])
    phone = TelField("Phone (optional)", filters=[_strip], validators=[
        Optional(), Length(max=32, message="Use at most 32 characters."),
        Regexp(PHONE_RE, message="Enter a phone number: digits, spaces and + ( ) - only.")])
