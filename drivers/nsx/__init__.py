"""The NSX Policy API driver (httpx). Not built yet."""
