//! Watching an account's transfers: the ordered log of changes, from an event id on, then live.
//! The log is in the database, so a watcher on any replica sees every change any replica made, in
//! commit order, with no gap and no duplicate. Each watcher reads it in pages into a bounded buffer;
//! a watcher that does not keep up is ended with `WatcherTooSlow` (naming where to resume) rather
//! than buffered without limit.

use std::time::Duration;

use funding_domain::{AccountId, TransferId, ValidationError, ValidationErrors};
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use super::Transfers;
use crate::error::CoreError;
use crate::model::Transfer;

/// How often a watcher looks for new changes.
const POLL: Duration = Duration::from_millis(100);
const PAGE: u32 = 100;

/// A watch: `(event id, the transfer right after that change)`, then an error when it ends early.
pub type TransferWatch = BoxStream<'static, Result<(String, Transfer), CoreError>>;

impl Transfers {
    /// Errors (before the stream starts): `InvalidArgument` for a malformed account id, transfer id
    /// or event id; `NotFound` for a transfer that is not the account's.
    pub async fn watch(
        &self,
        account_id: &str,
        transfer_id: &str,
        after_event_id: &str,
    ) -> Result<TransferWatch, CoreError> {
        let mut errors = ValidationErrors::new();
        let account = errors.check(AccountId::parse(account_id));
        let transfer = if transfer_id.is_empty() {
            Some(None)
        } else {
            errors
                .check(TransferId::parse(transfer_id).map_err(|e| e.at("transfer_id")))
                .map(Some)
        };
        let after = if after_event_id.is_empty() {
            Some(None)
        } else {
            errors
                .check(
                    after_event_id
                        .parse::<i64>()
                        .ok()
                        .filter(|seq| *seq >= 0)
                        .ok_or_else(|| {
                            ValidationError::new(
                                "after_event_id",
                                "is not an event id this service issued",
                            )
                        }),
                )
                .map(Some)
        };
        errors.into_result()?;
        let (Some(account), Some(transfer), Some(after)) = (account, transfer, after) else {
            return Err(CoreError::InvalidArgument(ValidationErrors::new()));
        };
        if let Some(id) = transfer {
            let known = self
                .store
                .get_transfer(id)
                .await?
                .is_some_and(|found| found.account_id == account);
            if !known {
                return Err(CoreError::NotFound {
                    resource: "transfer",
                    id: id.to_string(),
                });
            }
        }
        let start = match after {
            Some(seq) => seq,
            None => self.store.latest_transfer_event().await?,
        };
        // One more slot than the buffer, kept for the error that ends a watcher that fell behind.
        let (sender, receiver) = mpsc::channel(self.settings.watch_buffer.max(1) + 1);
        let store = self.store.clone();
        let mut closing = self.closing.subscribe();
        tokio::spawn(async move {
            let mut cursor = start;
            loop {
                if sender.is_closed() {
                    return;
                }
                if *closing.borrow() {
                    let _ = sender.try_send(Err(CoreError::ShuttingDown {
                        resume_after: cursor.to_string(),
                    }));
                    return;
                }
                let events = match store.transfer_events(account, transfer, cursor, PAGE).await {
                    Ok(events) => events,
                    Err(error) => {
                        tracing::warn!("a transfer watch cannot read the change log: {error}");
                        tokio::time::sleep(POLL).await;
                        continue;
                    }
                };
                let full_page = events.len() == PAGE as usize;
                for event in events {
                    // Keep the last slot for the error that ends a watcher that fell behind.
                    if sender.capacity() <= 1 {
                        metrics::counter!("funding_watchers_ended_total", "reason" => "too_slow")
                            .increment(1);
                        let _ = sender
                            .send(Err(CoreError::WatcherTooSlow {
                                resume_after: cursor.to_string(),
                            }))
                            .await;
                        return;
                    }
                    cursor = event.seq;
                    if sender
                        .send(Ok((event.seq.to_string(), event.transfer)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                if !full_page {
                    tokio::select! {
                        () = sender.closed() => return,
                        _ = closing.changed() => {}
                        () = tokio::time::sleep(POLL) => {}
                    }
                }
            }
        });
        Ok(Box::pin(tokio_stream_from(receiver)))
    }
}

/// The receiver as a stream.
fn tokio_stream_from<T: Send + 'static>(
    mut receiver: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
