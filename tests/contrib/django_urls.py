"""URLs of the test project: one view, to show which requests reach Django."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path


def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"view:{request.method} {request.path}", content_type="text/plain")


urlpatterns = [path("page/", page)]
