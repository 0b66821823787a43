//! Server-side rendering of the Link page: `link.html` with the institution list, the app's
//! name and the session's settings (a JSON blob `link.js` reads) filled in. Every value from a
//! request is HTML-escaped, and the JSON blob cannot close its `<script>` element.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::super::link_flow;
use super::super::model::SANDBOX_INSTITUTIONS;
use crate::ids::plaid_request_id;
use crate::state::Shared;

const PAGE: &str = include_str!("link.html");

/// How the page was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// In `link-initialize.js`'s iframe: results go to the parent by `postMessage`.
    Framed,
    /// Full page (`/link`): results go to `redirect_uri` by navigation.
    Hosted,
}

/// The page's settings that do not come from the link token.
pub(super) struct PageSetup {
    pub mode: Mode,
    pub parent_origin: Option<String>,
    pub redirect_uri: Option<String>,
}

/// Escapes text for HTML element content and double-quoted attributes.
pub(super) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// JSON safe inside `<script type="application/json">`: no `<`, so no `</script>`.
fn json_for_script(value: &Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

fn institutions_html() -> String {
    SANDBOX_INSTITUTIONS
        .iter()
        .map(|(id, name)| {
            format!(
                "<li><button type=\"button\" class=\"institution\" id=\"institution-{id}\" \
                 data-institution-id=\"{id}\" data-institution-name=\"{name}\">\
                 <span class=\"logo\" aria-hidden=\"true\">{initial}</span>\
                 <span class=\"institution-name\">{name}</span></button></li>",
                id = escape_html(id),
                name = escape_html(name),
                initial = escape_html(&name.chars().next().unwrap_or('?').to_string()),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn html_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors *",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A plain error page (the request could not start Link at all).
pub(super) fn problem(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Plaid Link (sandbox)</title></head>\
         <body><main id=\"plaid-link\" data-view=\"PROBLEM\"><p id=\"problem-message\">{}</p></main></body></html>",
        escape_html(message)
    );
    html_response(status, body)
}

/// Opens a session on `token` and renders the page; a missing, unknown or expired token renders
/// the page with the error, which the script reports as Link does (`onExit` with
/// `INVALID_LINK_TOKEN`, or the redirect with `error_code`).
pub(super) fn render_page(shared: &Shared, token: Option<&str>, setup: PageSetup) -> Response {
    let now = shared.clock.now();
    let opened = {
        let mut world = shared.world();
        link_flow::open(&mut world.plaid, token.unwrap_or_default(), now)
    };
    let (session, client_name, update, error) = match opened {
        Ok(opened) => {
            let update = opened
                .update_institution
                .map(|(id, name)| json!({"institution_id": id, "institution_name": name}));
            (
                Some(opened.link_session_id),
                opened.client_name,
                update,
                None,
            )
        }
        Err(error) => (None, String::new(), None, Some(error)),
    };
    let error = error.map(|error| {
        json!({
            "error_type": error.error_type,
            "error_code": error.error_code,
            "error_message": error.message,
            "display_message": error.display,
        })
    });
    let config = json!({
        "mode": match setup.mode { Mode::Framed => "framed", Mode::Hosted => "hosted" },
        "parent_origin": setup.parent_origin,
        "redirect_uri": setup.redirect_uri,
        "link_session_id": session,
        "client_name": client_name,
        "update": update,
        "request_id": plaid_request_id(),
        "error": error,
    });
    let shown_name = if client_name.is_empty() || client_name.chars().count() > 30 {
        "This Application".to_owned()
    } else {
        client_name
    };
    let body = fill(
        PAGE,
        &[
            ("CLIENT_NAME", escape_html(&shown_name)),
            ("INSTITUTIONS", institutions_html()),
            ("CONFIG", json_for_script(&config)),
        ],
    );
    html_response(StatusCode::OK, body)
}

/// Replaces each `{{KEY}}` of the template in one pass (so a value is never filled in again).
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let known = after.find("}}").and_then(|end| {
            let key = &after[..end];
            values
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| (value, end))
        });
        match known {
            Some((value, end)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_and_script_json_cannot_be_broken_out_of() {
        assert_eq!(
            escape_html("<b a=\"x\">&'"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;"
        );
        let json = json_for_script(&json!({"name": "</script><script>alert(1)</script>"}));
        assert!(!json.contains('<'));
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["name"], "</script><script>alert(1)</script>");
    }

    #[test]
    fn the_template_is_filled_in_one_pass() {
        let filled = fill(
            "<h1>{{A}}</h1>{{B}}{{NOPE}}",
            &[("A", "{{B}}".into()), ("B", "b".into())],
        );
        assert_eq!(filled, "<h1>{{B}}</h1>b{{NOPE}}");
    }
}
