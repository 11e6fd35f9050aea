"""WSGI entry point: `gunicorn 'wsgi:app'`, `flask --app wsgi …`."""
from portal import create_app
from portal.config import exit_on_config_error

app = exit_on_config_error(create_app)
