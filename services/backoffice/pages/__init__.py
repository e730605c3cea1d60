"""The back-office's pages, one module per area; each is a thin adapter: read the form, call
the services (:mod:`services.backoffice.backend`), render a template."""
