from django.apps import AppConfig
from django.core import checks


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from chat.checks import check_settings
        from chat.limits import forget_overrides
        from chat.models import QuotaOverride

        checks.register(check_settings, "chat")
        # Quota overrides are cached (chat/limits.py): any change to one, or to who is in
        # which group, makes every cached copy stale.
        post_save.connect(forget_overrides, sender=QuotaOverride, dispatch_uid="chat-quota-save")
        post_delete.connect(forget_overrides, sender=QuotaOverride, dispatch_uid="chat-quota-del")
        m2m_changed.connect(
            forget_overrides, sender=get_user_model().groups.through, dispatch_uid="chat-groups"
        )
