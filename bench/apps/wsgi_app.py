"""WSGI app for the shared-GIL comparison: Granian WSGI, one process, two
blocking threads, both running Python in one interpreter."""
CPU_LOOPS = 20000


def app(environ, start_response):
    if environ["PATH_INFO"] == "/cpu":
        total = 0
        for i in range(CPU_LOOPS):
            total += i * i % 7
        body = str(total).encode()
    else:
        body = b"Hello, World!"
    start_response("200 OK", [("content-type", "text/plain"), ("content-length", str(len(body)))])
    return [body]
