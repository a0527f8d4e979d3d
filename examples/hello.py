from fasterapi._native.http2 import PyHttp2Server

def hello_handler(req, res):
    res['status'] = 200
    res['content_type'] = 'text/plain'
    res['body'] = f"Hello from {req['path']}"

if __name__ == "__main__":
    server = PyHttp2Server(port=8080, num_pinned_workers=2,
                           num_pooled_workers=2, num_pooled_interpreters=1)
    server.add_route("GET", "/", hello_handler)
    server.add_route("GET", "/test", hello_handler)
    server.start()          # blocks; SIGINT or SIGTERM stops it gracefully
