"""Form bodies: application/x-www-form-urlencoded and multipart/form-data,
parsed with the standard library only."""
import email.parser
import email.policy
import io
from urllib.parse import parse_qsl

from .datastructures import FormData, Headers, UploadFile


def parse_form(content_type: str, body: bytes) -> FormData:
    """Parses a form body according to its content type (raises ValueError
    for a malformed multipart body)."""
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
        raise ValueError("multipart body without a boundary")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise ValueError("malformed multipart body")
    items = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
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
