from django.urls import path

from chat import views

urlpatterns = [
    path("", views.chatkit_endpoint, name="chatkit"),
    path("upload/", views.attachment_upload, name="chatkit-upload"),
    path("attachments/<str:attachment_id>/", views.attachment_download, name="chatkit-attachment"),
    path(
        "attachments/<str:attachment_id>/upload/",
        views.attachment_upload_target,
        name="chatkit-attachment-upload",
    ),
]
