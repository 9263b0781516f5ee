"""One blueprint per area; the JSON API is its own."""


def register_blueprints(app) -> None:
    from ..extensions import csrf
    from . import (auth, billing, catalog, credit_notes, deployments, exports, invoices, main,
                   outbox, provider, quotes, tenants, webhooks)
    from .api import api_bp, health_bp
    from . import audit, tokens
    from . import passwords, users

    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)
    app.register_blueprint(catalog.bp)
    app.register_blueprint(quotes.bp)
    app.register_blueprint(deployments.bp)
    app.register_blueprint(invoices.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(billing.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(credit_notes.bp)
    app.register_blueprint(tenants.bp)
    app.register_blueprint(provider.bp)
    app.register_blueprint(tokens.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(outbox.bp)
    app.register_blueprint(passwords.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp)
    # Bearer-token requests carry no cookie for a forged form to ride on: no CSRF token.
    csrf.exempt(api_bp)
    csrf.exempt(health_bp)
