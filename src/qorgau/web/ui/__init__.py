"""The web interface: server-rendered pages for the public, responders and administrators.

Pages are Jinja2 templates rendered on the server and work without JavaScript; htmx (served
from ``/static``, never a CDN) adds live updates and in-place actions where a browser runs it.
Pages call the same desks as the API, so a rule holds in both or in neither.
"""
