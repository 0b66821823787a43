//! Alpaca's SSE comment lines carry signals: `:heartbeat` keeps the connection alive, `: you are
//! reading too slowly, dropped N messages` means events were lost, `: internal server error` means
//! the server is closing. The SSE parser (`eventsource-stream`) drops comments, so this tap watches
//! the bytes on their way to it, forwards them unchanged, and cuts the stream just before a comment
//! that calls for a reconnect, so that no event after a gap reaches the reader.

/// The longest comment text kept for classification; the rest of a longer line is ignored.
const MAX_COMMENT_BYTES: usize = 256;

/// A comment that ends the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signal {
    /// `: you are reading too slowly, dropped N messages`: resume from the cursor to get them back.
    DataLost(String),
    /// `: internal server error`: the server is closing the stream.
    ServerError,
}

/// Watches a byte stream for comment lines, across chunk boundaries.
#[derive(Debug)]
pub(crate) struct CommentTap {
    at_line_start: bool,
    /// The previous byte was a CR, so an LF now ends the same line.
    after_cr: bool,
    /// The text of the comment line being read (after the `:`).
    comment: Option<Vec<u8>>,
}

impl Default for CommentTap {
    fn default() -> Self {
        Self {
            at_line_start: true,
            after_cr: false,
            comment: None,
        }
    }
}

impl CommentTap {
    /// How many bytes of `chunk` to pass on, and the signal when a comment in it ends the connection
    /// (then the bytes passed on stop before that comment line).
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> (usize, Option<Signal>) {
        let mut comment_start = None;
        for (index, &byte) in chunk.iter().enumerate() {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            if after_cr && byte == b'\n' {
                continue;
            }
            let ends_line = byte == b'\n' || byte == b'\r';
            if let Some(text) = self.comment.as_mut() {
                if !ends_line {
                    if text.len() < MAX_COMMENT_BYTES {
                        text.push(byte);
                    }
                    continue;
                }
                let text = self.comment.take().unwrap_or_default();
                if let Some(signal) = classify(&text) {
                    return (comment_start.unwrap_or(0), Some(signal));
                }
                comment_start = None;
            }
            if ends_line {
                self.after_cr = byte == b'\r';
                self.at_line_start = true;
                continue;
            }
            if self.at_line_start && byte == b':' {
                self.comment = Some(Vec::new());
                comment_start = Some(index);
            }
            self.at_line_start = false;
        }
        (chunk.len(), None)
    }
}

/// What a comment means; `None` for a heartbeat or anything else.
fn classify(text: &[u8]) -> Option<Signal> {
    let text = String::from_utf8_lossy(text).trim().to_ascii_lowercase();
    if text.contains("reading too slowly") || text.contains("dropped") {
        return Some(Signal::DataLost(text));
    }
    if text.contains("internal server error") {
        return Some(Signal::ServerError);
    }
    tracing::trace!(comment = %text, "SSE comment");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(chunks: &[&str]) -> (String, Option<Signal>) {
        let mut tap = CommentTap::default();
        let mut passed = String::new();
        for chunk in chunks {
            let (pass, signal) = tap.feed(chunk.as_bytes());
            passed.push_str(&chunk[..pass]);
            if signal.is_some() {
                return (passed, signal);
            }
        }
        (passed, None)
    }

    #[test]
    fn heartbeats_and_events_pass_unchanged() {
        let input = [
            ":heartbeat\n\ndata: {\"a\":1}\n\n",
            ": keep-alive\r\n",
            "data: x:y\n\n",
        ];
        let (passed, signal) = feed_all(&input);
        assert_eq!(passed, input.concat());
        assert_eq!(signal, None);
    }

    #[test]
    fn a_dropped_messages_comment_cuts_the_stream_before_it() {
        let (passed, signal) =
            feed_all(&["data: 1\n\n: you are reading too slowly, dropped 3 messages\ndata: 5\n\n"]);
        assert_eq!(passed, "data: 1\n\n");
        assert_eq!(
            signal,
            Some(Signal::DataLost(
                "you are reading too slowly, dropped 3 messages".into()
            ))
        );
    }

    #[test]
    fn a_comment_split_across_chunks_is_recognised() {
        let (passed, signal) = feed_all(&["data: 1\n\n: internal ser", "ver error\r\ndata: 2\n\n"]);
        assert_eq!(passed, "data: 1\n\n: internal ser");
        assert_eq!(signal, Some(Signal::ServerError));
    }

    #[test]
    fn a_colon_inside_a_line_is_not_a_comment() {
        let (_, signal) = feed_all(&["data: {\"m\":\": dropped 1\"}\n\n"]);
        assert_eq!(signal, None);
    }

    #[test]
    fn crlf_line_ends_keep_comment_detection() {
        let (passed, signal) = feed_all(&["data: 1\r\n\r\n:dropped 2 messages\r\n"]);
        assert_eq!(passed, "data: 1\r\n\r\n");
        assert!(matches!(signal, Some(Signal::DataLost(_))));
    }
}
