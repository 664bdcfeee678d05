from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from chat.admin import back_office_urls
from chatsite import views

handler400 = "chatsite.errors.bad_request"
handler404 = "chatsite.errors.page_not_found"
handler500 = "chatsite.errors.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("about/", views.about, name="about"),
    path("chat/", views.chat_page, name="chat-page"),
    path("chat/widgets/", views.widget_gallery, name="widget-gallery"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz/", views.healthz, name="healthz"),
    path("admin/chat/", include(back_office_urls())),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/token/", include("accounts.api_urls")),
    path("chatkit/", include("chat.urls")),
    path("my-data/", include("chat.page_urls")),
]
