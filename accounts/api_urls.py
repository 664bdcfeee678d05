"""Token API under /api/token/: simplejwt endpoints plus the session exchange."""

from django.urls import path
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from accounts import views

urlpatterns = [
    path("", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("blacklist/", TokenBlacklistView.as_view(), name="token_blacklist"),
    path("session/", views.session_token, name="token_session"),
]
