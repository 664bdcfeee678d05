from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Login, logout and signup pages, JWT issuance and Bearer authentication."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from accounts.user_cache import forget_user

        user_model = get_user_model()
        post_save.connect(forget_user, sender=user_model, dispatch_uid="accounts-user-save")
        post_delete.connect(forget_user, sender=user_model, dispatch_uid="accounts-user-del")
