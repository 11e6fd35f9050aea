"""gunicorn reads this file from the directory it starts in, in its master process, before it binds a port or
boots a worker: a configuration the portal refuses (say PORTAL_ENV=production without SECRET_KEY) stops
gunicorn here with one line, instead of in every worker. Settings themselves stay on the command line."""
from portal.config import exit_on_config_error, load_config

exit_on_config_error(load_config)
