from django.contrib import admin
from django.urls import include, path

from chat.admin import back_office_urls
from chatsite import views

handler400 = "chatsite.errors.bad_request"
handler404 = "chatsite.errors.page_not_found"
handler500 = "chatsite.errors.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("about/", views.about, name="about"),
    path("healthz/", views.healthz, name="healthz"),
    path("admin/chat/", include(back_office_urls())),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/token/", include("accounts.api_urls")),
    path("chatkit/", include("chat.urls")),
    path("my-data/", include("chat.page_urls")),
]
