import httpx
async def test_probe(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/users/me")
    print(r.status_code, dict(r.headers), r.text)
    assert "www-authenticate" in r.headers
