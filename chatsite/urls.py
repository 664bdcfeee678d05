from django.contrib import admin
from django.urls import include, path

from chat import views as chat_views

urlpatterns = [
    path("", chat_views.home, name="home"),
    path("about/", chat_views.about, name="about"),
    path("healthz/", chat_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/token/", include("accounts.api_urls")),
    path("chatkit/", include("chat.urls")),
]
