"""Token API under /api/token/: simplejwt endpoints plus the session exchange."""

from django.urls import path
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenRefreshView,
)

from accounts import views
from accounts.throttle import ThrottledTokenObtainPairView

urlpatterns = [
    path("", ThrottledTokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("blacklist/", TokenBlacklistView.as_view(), name="token_blacklist"),
    path("session/", views.session_token, name="token_session"),
]
