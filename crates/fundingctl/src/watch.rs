//! `watch`: an account's transfer changes, live (WatchTransfers).
//!
//! With `--transfer-id`, the watch follows that one transfer from the start of its history (unless
//! `--after-event-id` says otherwise), so a transfer created just before is seen from its first
//! status; it exits 0 once the transfer reaches a terminal status (COMPLETE, RETURNED, REJECTED,
//! CANCELED, EXPIRED, FAILED). On a terminal and without `--json`, a spinner line is replaced in
//! place; otherwise one line per change (`--json`: one JSON object per change, NDJSON).

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use funding_client::FundingClient;
use funding_client::v1::{self, TransferStatus};
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::CliError;
use crate::{json, output};

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[arg(long)]
    account_id: String,
    /// Follow this transfer only, and exit when it reaches a terminal status.
    #[arg(long)]
    transfer_id: Option<String>,
    /// Resume after this event id (default: now; with --transfer-id, the transfer's whole history).
    #[arg(long)]
    after_event_id: Option<String>,
}

/// Whether the CLI stops following a transfer in this status.
pub fn is_terminal(status: TransferStatus) -> bool {
    matches!(
        status,
        TransferStatus::Complete
            | TransferStatus::Returned
            | TransferStatus::Rejected
            | TransferStatus::Canceled
            | TransferStatus::Expired
            | TransferStatus::Failed
    )
}

enum Display {
    Json,
    Lines,
    Spinner(ProgressBar),
}

impl Display {
    fn new(json: bool) -> Self {
        if json {
            Self::Json
        } else if std::io::stdout().is_terminal() {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {wide_msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(100));
            Self::Spinner(bar)
        } else {
            Self::Lines
        }
    }

    fn start(&self, what: &str) {
        if let Self::Spinner(bar) = self {
            bar.set_message(format!("watching {what}…"));
        }
    }

    fn change(
        &self,
        event: &v1::WatchTransfersResponse,
        single: bool,
        count: usize,
    ) -> Result<(), CliError> {
        match self {
            Self::Json => {
                let text = serde_json::to_string(&json::watch_event(event))
                    .map_err(|e| CliError::Other(format!("json: {e}")))?;
                println!("{text}");
            }
            Self::Lines => println!("{}", output::watch_line(event)),
            Self::Spinner(bar) => {
                if single {
                    bar.set_message(output::watch_line(event));
                } else {
                    bar.println(output::watch_line(event));
                    bar.set_message(format!("watching… {count} change(s)"));
                }
            }
        }
        Ok(())
    }

    fn finish(&self, event: Option<&v1::WatchTransfersResponse>) {
        if let Self::Spinner(bar) = self {
            match event {
                Some(event) => bar.finish_with_message(output::watch_line(event)),
                None => bar.finish_and_clear(),
            }
        }
    }
}

pub async fn run(client: &FundingClient, json: bool, args: WatchArgs) -> Result<(), CliError> {
    let single = args.transfer_id.is_some();
    let after_event_id = match (&args.after_event_id, single) {
        (Some(id), _) => id.clone(),
        (None, true) => "0".to_owned(),
        (None, false) => String::new(),
    };
    let what = match &args.transfer_id {
        Some(id) => format!("transfer {id}"),
        None => format!("account {}", args.account_id),
    };
    let request = v1::WatchTransfersRequest {
        account_id: args.account_id,
        after_event_id,
        transfer_id: args.transfer_id.clone().unwrap_or_default(),
    };
    let mut stream = client
        .transfers()
        .watch_transfers(request)
        .await?
        .into_inner();
    let display = Display::new(json);
    display.start(&what);
    let mut count = 0;
    let mut last: Option<v1::WatchTransfersResponse> = None;
    let outcome = loop {
        let event = match stream.message().await {
            Ok(Some(event)) => event,
            Ok(None) => {
                break if single {
                    Err(CliError::Other(format!(
                        "the watch of {what} ended before a terminal status"
                    )))
                } else {
                    Ok(())
                };
            }
            Err(status) => break Err(CliError::Status(status)),
        };
        count += 1;
        display.change(&event, single, count)?;
        let done = single
            && event
                .transfer
                .as_ref()
                .is_some_and(|t| is_terminal(t.status()));
        last = Some(event);
        if done {
            break Ok(());
        }
    };
    display.finish(last.as_ref());
    outcome
}
