"""Form bodies: application/x-www-form-urlencoded and multipart/form-data,
parsed with the standard library only."""
import email.errors
import email.parser
import email.policy
import io
from urllib.parse import parse_qsl

from .datastructures import FormData, Headers, UploadFile


class MultipartError(ValueError):
    """A multipart body that cannot be parsed; the message is the 400's
    detail, in Starlette's words (what FastAPI answers)."""


def parse_form(content_type: str, body: bytes) -> FormData:
    """Parses a form body according to its content type (raises
    MultipartError for a malformed multipart body)."""
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    if ct == "multipart/form-data":
        return _parse_multipart(content_type, body)
    if not body:
        return FormData()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    return FormData(parse_qsl(text, keep_blank_values=True))


def _parse_multipart(content_type: str, body: bytes) -> FormData:
    if "boundary=" not in content_type:
        raise MultipartError("Missing boundary in multipart.")
    if not body.strip():
        return FormData()  # no parts at all: every field absent
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart() or any(isinstance(d, _FRAMING_DEFECTS) for d in msg.defects):
        raise MultipartError("Invalid multipart data.")
    parts = list(msg.iter_parts())
    if any(isinstance(d, _PART_DEFECTS) for p in parts for d in p.defects):
        raise MultipartError("Invalid multipart data.")
    if any(isinstance(d, email.errors.CloseBoundaryNotFoundDefect) for d in msg.defects) and parts:
        parts.pop()  # the body ended inside its last part: that part never finished (as python-multipart)
    items = []
    for part in parts:
        name = part.get_param("name", header="content-disposition")
        if name is None:
            raise MultipartError('The Content-Disposition header field "name" must be provided.')
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            headers = Headers([(k, str(v)) for k, v in part.items()])
            items.append((name, UploadFile(io.BytesIO(payload), size=len(payload), filename=filename,
                                           headers=headers, content_type=part.get_content_type())))
        else:
            charset = part.get_content_charset() or "utf-8"
            items.append((name, payload.decode(charset, "replace")))
    return FormData(items)


# defects of the email parser that mean the bytes are not multipart framing
_FRAMING_DEFECTS = (email.errors.StartBoundaryNotFoundDefect, email.errors.MultipartInvariantViolationDefect)
_PART_DEFECTS = (email.errors.MissingHeaderBodySeparatorDefect, email.errors.InvalidHeaderDefect)
