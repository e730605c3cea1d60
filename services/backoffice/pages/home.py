"""The home page of a signed-in staff member."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.backoffice.session import Staff, signed_in

router = APIRouter(dependencies=[Depends(signed_in)])


@router.get("/")
async def home(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    return request.app.state.pages.html(request, "home.html", {"title": "Accueil"})
