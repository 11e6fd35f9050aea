from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Regexp

from ..invoices.service import EMAIL_RE
from ..models import ROLES


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254), Regexp(EMAIL_RE, message="Not an email address.")])
    name = StringField("Name", validators=[Length(max=120)])
    role = SelectField("Role", choices=[SelectChoice(r, r.capitalize()) for r in ROLES])


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice(r, r.capitalize()) for r in ROLES])
