"""The site pages of the chat app (not the /chatkit/ API): "My data"."""

from django.urls import path

from chat import mydata

urlpatterns = [
    path("", mydata.my_data, name="my-data"),
    path("export.json", mydata.my_data_export, {"fmt": "json"}, name="my-data-json"),
    path("export.md", mydata.my_data_export, {"fmt": "markdown"}, name="my-data-markdown"),
    path("delete/", mydata.my_data_delete, name="my-data-delete"),
]
