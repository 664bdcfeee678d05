from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Login, logout and signup pages, JWT issuance and Bearer authentication."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Accounts"
