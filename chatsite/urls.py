from django.contrib import admin
from django.urls import include, path

from chatsite import views

urlpatterns = [
    path("", views.home, name="home"),
    path("about/", views.about, name="about"),
    path("healthz/", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/token/", include("accounts.api_urls")),
    path("chatkit/", include("chat.urls")),
]
