//! A connection's bytes, watched on their way out.
//!
//! actix-http answers a request it cannot parse by itself, before any pulsekey code runs:
//! an empty 400 (a NUL in a header, Content-Length beside Transfer-Encoding, a malformed
//! line), 431 (a head larger than its read buffer) or 408 (headers that never finish).
//! Nothing in actix reaches those answers, so [`Wire`] recognises exactly their heads as they
//! are written and gives each the JSON error body that every other refusal has. pulsekey's
//! own answers of these statuses always carry a body, so an empty one is the parser's.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pulsekey_types::{ErrorBody, ErrorCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::connections::Slot;

/// The heads actix-http writes for the requests it refuses itself, byte for byte up to the
/// length it declares, with the code and words each gets instead.
const PARSER_ANSWERS: [(&[u8], ErrorCode, &str); 3] = [
    (
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        ErrorCode::BadRequest,
        "the request is not valid HTTP/1.1: a malformed line, a forbidden byte in a header, \
         or both Content-Length and Transfer-Encoding",
    ),
    (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n",
        ErrorCode::HeadersTooLarge,
        "the request's headers are larger than the server reads",
    ),
    (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n",
        ErrorCode::RequestTimeout,
        "the request's headers did not arrive within the server's deadline",
    ),
];

/// When `out` starts with one of the parser's empty answers: how many of its bytes that
/// head takes, and the same answer with its JSON body.
fn with_json_body(out: &[u8]) -> Option<(usize, Vec<u8>)> {
    if !out.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let (prefix, code, message) = PARSER_ANSWERS
        .iter()
        .find(|(prefix, ..)| out.starts_with(prefix))?;
    // The rest of the head (connection, date) is kept as written; a head split across
    // writes is left alone rather than guessed at.
    let rest = &out[prefix.len()..];
    let rest_len = if rest.starts_with(b"\r\n") {
        2
    } else {
        rest.windows(4).position(|w| w == b"\r\n\r\n")? + 4
    };
    let body = serde_json::to_vec(&ErrorBody {
        error: *code,
        message: (*message).to_owned(),
    })
    .ok()?;
    let status_line_len = prefix.iter().position(|&b| b == b'\n')? + 1;
    let mut answer = Vec::with_capacity(prefix.len() + rest_len + body.len() + 48);
    answer.extend_from_slice(&prefix[..status_line_len]);
    answer.extend_from_slice(b"content-type: application/json\r\n");
    answer.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    answer.extend_from_slice(&rest[..rest_len]);
    answer.extend_from_slice(&body);
    Some((prefix.len() + rest_len, answer))
}

/// A client connection as the HTTP layer sees it: reads pass through; writes pass through
/// but for the parser's empty answers. Holds the connection's place among its address's
/// connections until it closes.
pub struct Wire<T> {
    io: T,
    /// A rewritten answer, written before anything that follows it.
    pending: Vec<u8>,
    sent: usize,
    _slot: Option<Slot>,
}

impl<T> Wire<T> {
    pub fn new(io: T, slot: Option<Slot>) -> Self {
        Self {
            io,
            pending: Vec::new(),
            sent: 0,
            _slot: slot,
        }
    }
}

impl<T: AsyncWrite + Unpin> Wire<T> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Wire<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Wire<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        if let Some((replaced, answer)) = with_json_body(buf) {
            this.pending = answer;
            // Written now as far as the socket takes it; the rest before the next bytes.
            if let Poll::Ready(Err(err)) = this.poll_pending(cx) {
                return Poll::Ready(Err(err));
            }
            return Poll::Ready(Ok(replaced));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(answer: &[u8]) -> (String, serde_json::Value) {
        let text = std::str::from_utf8(answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (head.to_owned(), serde_json::from_str(body).unwrap())
    }

    #[test]
    fn the_parsers_empty_answers_get_the_json_shape() {
        let written = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\
                        connection: close\r\ndate: Wed, 02 Dec 2026 16:50:54 GMT\r\n\r\n";
        let (replaced, answer) = with_json_body(written).unwrap();
        assert_eq!(replaced, written.len());
        let (head, body) = split(&answer);
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains("connection: close") && head.contains("date: "));
        assert!(!head.contains("content-length: 0\r\n"));
        assert_eq!(body["error"], "headers_too_large");
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(declared, answer.len() - head.len() - 4);

        let bad = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let (replaced, answer) = with_json_body(bad).unwrap();
        assert_eq!(replaced, bad.len());
        assert_eq!(split(&answer).1["error"], "bad_request");
        let slow =
            b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        assert_eq!(
            split(&with_json_body(slow).unwrap().1).1["error"],
            "request_timeout"
        );
    }

    #[test]
    fn everything_else_passes_untouched() {
        for written in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 61\r\ncontent-type: application/json\r\n\r\n",
            b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 80\r\n\r\n",
            // A head cut short by the write: left alone rather than guessed at.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: cl",
            b"{\"status\":\"ACTIVE\"}",
            b"",
        ] {
            assert!(with_json_body(written).is_none(), "{:?}", String::from_utf8_lossy(written));
        }
    }
}
