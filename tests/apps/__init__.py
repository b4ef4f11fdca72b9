"""WSGI applications that test servers import by module path."""
