"""``StaticFiles``: serve a directory under a path prefix, as
``fastapi.staticfiles.StaticFiles`` (Starlette's) does::

    from fasterapi.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory="static"), name="static")

GET and HEAD only (other methods: 405 with ``Allow: GET, HEAD``); a name
that is not a regular file inside the directory (missing, a directory,
outside it by ``..`` or a symlink) answers 404, both through the app's
exception handlers, so they are JSON ``{"detail": ...}`` as in FastAPI.
Files go out as FileResponse: the native server sends them with sendfile,
with ETag/Last-Modified, conditional requests (304) and ranges (206).

``html=True`` serves ``index.html`` for a directory (redirecting
``/dir`` to ``/dir/`` first, as browsers resolve relative links against
it) and ``404.html`` for a missing file, when they exist.
"""
import os
import stat

from .exceptions import HTTPException
from .responses import FileResponse, RedirectResponse

__all__ = ["StaticFiles"]


class StaticFiles:
    """A directory served by ``app.mount(prefix, StaticFiles(directory=...))``.

    ``packages`` (a list of package names, or ``(package, subdirectory)``
    pairs) adds each package's ``statics`` (or named) directory after
    ``directory``.  ``check_dir=False`` allows a directory that does not
    exist yet.  ``follow_symlink=True`` serves symlinks that point outside
    the directory."""

    def __init__(self, *, directory=None, packages=None, html: bool = False, check_dir: bool = True,
                 follow_symlink: bool = False):
        self.directory = os.fspath(directory) if directory is not None else None
        self.html = html
        self.follow_symlink = follow_symlink
        self.all_directories = self._directories(self.directory, packages)
        if check_dir and self.directory is not None and not os.path.isdir(self.directory):
            raise RuntimeError(f"Directory '{self.directory}' does not exist")

    @staticmethod
    def _directories(directory, packages) -> list:
        dirs = [directory] if directory is not None else []
        for pkg in packages or ():
            name, sub = (pkg if isinstance(pkg, tuple) else (pkg, "statics"))
            import importlib.util  # noqa: PLC0415
            spec = importlib.util.find_spec(name)
            if spec is None or not spec.origin:
                raise RuntimeError(f"StaticFiles: package {name!r} not found")
            d = os.path.join(os.path.dirname(spec.origin), sub)
            if not os.path.isdir(d):
                raise RuntimeError(f"StaticFiles: directory {sub!r} of package {name!r} not found")
            dirs.append(d)
        if not dirs:
            raise RuntimeError("StaticFiles needs directory= or packages=")
        return dirs

    def lookup_path(self, path: str):
        """(full path, os.stat_result) of the first match of the relative
        path in the directories, or ("", None).  A path that resolves
        outside its directory is not a match (unless follow_symlink)."""
        for d in self.all_directories:
            joined = os.path.join(d, path)
            if self.follow_symlink:
                full, base = os.path.abspath(joined), os.path.abspath(d)
            else:
                full, base = os.path.realpath(joined), os.path.realpath(d)
            if os.path.commonpath([full, base]) != base:
                continue
            try:
                return full, os.stat(full)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError:
                continue
        return "", None

    def get_response(self, path: str, method: str, request_path: str):
        """The response for the relative path (raises HTTPException 404/405)."""
        if method not in ("GET", "HEAD"):
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        if "\x00" in path:
            raise HTTPException(404)
        full, st = self.lookup_path(path)
        if st is not None and stat.S_ISREG(st.st_mode):
            return FileResponse(full, stat_result=st)
        if st is not None and stat.S_ISDIR(st.st_mode) and self.html:
            index, ist = self.lookup_path(os.path.join(path, "index.html"))
            if ist is not None and stat.S_ISREG(ist.st_mode):
                if not request_path.endswith("/"):
                    return RedirectResponse(request_path + "/")
                return FileResponse(index, stat_result=ist)
        if self.html:
            page, pst = self.lookup_path("404.html")
            if pst is not None and stat.S_ISREG(pst.st_mode):
                return FileResponse(page, status_code=404, stat_result=pst)
        raise HTTPException(404)
