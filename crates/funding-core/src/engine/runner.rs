//! The [`Engine`]: claims work (due work for the workers, one piece for the fast path), runs its
//! handler while renewing the claim, and settles the work from the attempt's outcome. Workers run a
//! bounded number of attempts at once, each in a task of its own, so one slow or poisoned piece of
//! work never holds up the rest; a caller that gives up never aborts an attempt half-way.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{Attempt, Backoff, WorkHandler};
use crate::error::CoreError;
use crate::ports::{ClaimedWork, StoreError, WorkKind, WorkQueue};

/// How the engine works.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// This process's name in claims.
    pub owner: String,
    /// How long a claim lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// How often the workers look for due work when nothing wakes them.
    pub poll_interval: Duration,
    /// Attempts running at once in the workers.
    pub concurrency: usize,
    pub backoff: Backoff,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            owner: format!("fundingd-{}", Uuid::new_v4()),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
            concurrency: 16,
            backoff: Backoff::default(),
        }
    }
}

/// Drives work through its handlers. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Arc<dyn WorkQueue>,
    handlers: std::sync::RwLock<HashMap<WorkKind, Arc<dyn WorkHandler>>>,
    settings: EngineSettings,
    wake: Notify,
}

impl Engine {
    pub fn new(queue: Arc<dyn WorkQueue>, settings: EngineSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                queue,
                handlers: std::sync::RwLock::new(HashMap::new()),
                settings,
                wake: Notify::new(),
            }),
        }
    }

    /// Registers the handler of `kind` (one per kind; a later one replaces it).
    pub fn register(&self, kind: WorkKind, handler: Arc<dyn WorkHandler>) {
        if let Ok(mut handlers) = self.inner.handlers.write() {
            handlers.insert(kind, handler);
        }
    }

    /// Forgets every handler (at shutdown: handlers hold the use cases, which hold the engine, so
    /// this is what lets the whole graph be dropped).
    pub fn clear_handlers(&self) {
        if let Ok(mut handlers) = self.inner.handlers.write() {
            handlers.clear();
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    pub fn queue(&self) -> &Arc<dyn WorkQueue> {
        &self.inner.queue
    }

    /// Tells the workers that new work was written (so they need not wait for their next poll).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// The fast path: claims the work of `kind` for `subject_id` and makes one attempt at it, in a
    /// task of its own (a caller that gives up does not abort it). `None` when the work could not be
    /// claimed: somebody else drives it, it waits behind older work of its ordering key, or it has
    /// ended.
    pub async fn drive_now(
        &self,
        kind: WorkKind,
        subject_id: Uuid,
    ) -> Result<Option<Attempt>, CoreError> {
        let settings = &self.inner.settings;
        let Some(work) = self
            .inner
            .queue
            .claim(kind, subject_id, &settings.owner, settings.lease)
            .await?
        else {
            return Ok(None);
        };
        let this = self.clone();
        let attempt = tokio::spawn(tracing::Instrument::in_current_span(async move {
            this.execute(work).await
        }))
        .await
        .map_err(|error| CoreError::Internal(format!("a work task failed: {error}")))?;
        Ok(Some(attempt))
    }

    /// The fast path for work claimed in the transaction that wrote it: `first` is its first
    /// attempt, run as the engine runs any (in a task of its own, its claim renewed meanwhile,
    /// settled from its outcome; the kind's handler gives up for it when it was the last).
    pub async fn drive_claimed<F, Fut>(
        &self,
        work: ClaimedWork,
        first: F,
    ) -> Result<Attempt, CoreError>
    where
        F: FnOnce(ClaimedWork) -> Fut + Send + 'static,
        Fut: Future<Output = Attempt> + Send,
    {
        let this = self.clone();
        tokio::spawn(tracing::Instrument::in_current_span(async move {
            this.execute_with(work, Some(first)).await
        }))
        .await
        .map_err(|error| CoreError::Internal(format!("a work task failed: {error}")))
    }

    /// The fast path with patience: one attempt now if the work can be claimed; if it cannot (a
    /// worker or a concurrent repeat holds it, it waits behind older work of its ordering key, or
    /// its retry is not due), it tries again every 50 ms for up to two seconds, until it makes an
    /// attempt or `settled` says the resource has moved on without it. Returns the attempt made,
    /// if any, and the resource as `load` reads it after.
    pub async fn drive_or_wait<T, Load, Loaded>(
        &self,
        kind: WorkKind,
        subject_id: Uuid,
        load: Load,
        settled: impl Fn(&T) -> bool,
    ) -> Result<(Option<Attempt>, T), CoreError>
    where
        Load: Fn() -> Loaded,
        Loaded: Future<Output = Result<T, CoreError>>,
    {
        const PAUSE: Duration = Duration::from_millis(50);
        const TRIES: u32 = 40;
        let mut attempt = self.drive_now(kind, subject_id).await?;
        let mut current = load().await?;
        for _ in 0..TRIES {
            if attempt.is_some() || settled(&current) {
                break;
            }
            tokio::time::sleep(PAUSE).await;
            attempt = self.drive_now(kind, subject_id).await?;
            current = load().await?;
        }
        Ok((attempt, current))
    }

    /// The workers: until `shutdown` completes, claims due work and runs it, at most
    /// `concurrency` attempts at once. On shutdown, stops claiming and waits for the attempts under
    /// way (their claims would otherwise have to run out before another replica continues them).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let slots = Arc::new(Semaphore::new(self.inner.settings.concurrency.max(1)));
        let mut running = JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
            let free = slots.available_permits();
            if free > 0 {
                match self.claim_due(free).await {
                    Ok(claimed) => {
                        let full = claimed.len() == free;
                        for work in claimed {
                            let Ok(permit) = slots.clone().try_acquire_owned() else {
                                break;
                            };
                            let this = self.clone();
                            running.spawn(async move {
                                let _permit = permit;
                                this.execute(work).await;
                            });
                        }
                        if full {
                            // More may be due: look again as soon as a slot frees.
                            tokio::select! {
                                () = &mut shutdown => break,
                                _ = slots.acquire() => continue,
                            }
                        }
                    }
                    Err(error) => tracing::warn!("cannot claim due work: {error}"),
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(self.inner.settings.poll_interval) => {}
            }
        }
        while running.join_next().await.is_some() {}
    }

    async fn claim_due(&self, limit: usize) -> Result<Vec<ClaimedWork>, StoreError> {
        let settings = &self.inner.settings;
        self.inner
            .queue
            .claim_due(
                &settings.owner,
                settings.lease,
                u32::try_from(limit).unwrap_or(u32::MAX),
            )
            .await
    }

    fn handler(&self, kind: WorkKind) -> Option<Arc<dyn WorkHandler>> {
        self.inner
            .handlers
            .read()
            .ok()
            .and_then(|handlers| handlers.get(&kind).cloned())
    }

    /// One attempt at claimed work by its kind's handler.
    async fn execute(&self, work: ClaimedWork) -> Attempt {
        self.execute_with(work, None::<fn(ClaimedWork) -> std::future::Ready<Attempt>>)
            .await
    }

    /// One attempt at claimed work (`first`'s, else the handler's), with its claim renewed
    /// meanwhile, then the work settled.
    #[tracing::instrument(skip_all, fields(work_id = %work.claim.work_id, kind = %work.kind, subject_id = %work.subject_id, attempt = work.attempt, generation = work.claim.generation))]
    async fn execute_with<F, Fut>(&self, work: ClaimedWork, first: Option<F>) -> Attempt
    where
        F: FnOnce(ClaimedWork) -> Fut,
        Fut: Future<Output = Attempt>,
    {
        let Some(handler) = self.handler(work.kind) else {
            tracing::error!("no handler for this kind of work; it waits");
            let reason = format!("no handler for {} work", work.kind);
            self.settle_retry(&work, &reason, None).await;
            return Attempt::Retry {
                reason,
                error: None,
            };
        };
        let attempt = match first {
            Some(first) => self.run_renewing(first(work.clone()), &work).await,
            None => self.run_renewing(handler.run(&work), &work).await,
        };
        match &attempt {
            Attempt::Finished => {
                metrics::counter!("funding_work_attempts_total", "kind" => work.kind.as_str(), "outcome" => "done").increment(1);
                attempt
            }
            Attempt::Done | Attempt::Refused(_) => {
                if !self.report(self.inner.queue.finish(&work.claim).await) {
                    return Attempt::Fenced;
                }
                let outcome = if attempt == Attempt::Done {
                    "done"
                } else {
                    "refused"
                };
                metrics::counter!("funding_work_attempts_total", "kind" => work.kind.as_str(), "outcome" => outcome).increment(1);
                attempt
            }
            Attempt::Fenced => {
                tracing::warn!("the claim ran out during the attempt; its outcome was not stored");
                metrics::counter!("funding_work_attempts_total", "kind" => work.kind.as_str(), "outcome" => "fenced").increment(1);
                attempt
            }
            Attempt::Wait { reason, delay } => {
                tracing::info!(%reason, ?delay, "the work waits; the attempt does not count");
                self.report(self.inner.queue.postpone(&work.claim, *delay, reason).await);
                metrics::counter!("funding_work_attempts_total", "kind" => work.kind.as_str(), "outcome" => "wait").increment(1);
                attempt
            }
            Attempt::Retry { reason, error } if work.is_last_attempt() => {
                let code = error.as_ref().map(|error| error.code.clone());
                let reason = format!("gave up after {} attempts: {reason}", work.attempt);
                tracing::warn!(%reason, "work failed for good");
                match handler.give_up(&work, &reason).await {
                    Attempt::Wait { reason, delay } => {
                        self.report(self.inner.queue.postpone(&work.claim, delay, &reason).await);
                    }
                    Attempt::Done | Attempt::Finished | Attempt::Refused(_) => {
                        self.report(self.inner.queue.give_up(&work.claim, &reason).await);
                        metrics::counter!("funding_work_attempts_total", "kind" => work.kind.as_str(), "outcome" => "gave_up").increment(1);
                    }
                    Attempt::Fenced => {}
                    Attempt::Retry { .. } => {
                        self.settle_retry(&work, &reason, code.as_deref()).await;
                    }
                }
                attempt
            }
            Attempt::Retry { reason, error } => {
                tracing::info!(%reason, "attempt failed; the work will be retried");
                let code = error.as_ref().map(|error| error.code.as_str());
                self.settle_retry(&work, reason, code).await;
                metrics::counter!("funding_work_attempts_total", "kind" => work.kind.as_str(), "outcome" => "retry").increment(1);
                attempt
            }
        }
    }

    async fn settle_retry(&self, work: &ClaimedWork, reason: &str, provider_code: Option<&str>) {
        let delay = self.inner.settings.backoff.delay(work.attempt);
        self.report(
            self.inner
                .queue
                .retry_later(&work.claim, delay, reason, provider_code)
                .await,
        );
    }

    /// Whether a settling write was accepted; logs why not.
    fn report(&self, result: Result<bool, StoreError>) -> bool {
        match result {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!("the work's claim was taken over before it was settled");
                false
            }
            Err(error) => {
                tracing::warn!(
                    "cannot settle the work (its claim will run out and it is retried): {error}"
                );
                false
            }
        }
    }

    /// Runs the attempt; renews the claim every third of the lease until it returns.
    ///
    /// The renewal runs beside the handler, never instead of it: a renewal waits on the work's row
    /// while the handler's transaction holds it (PostgreSQL's row lock, SQLite's one writer), so the
    /// handler must go on being polled meanwhile, or neither would ever finish.
    ///
    /// A claim that is lost stops the attempt where it stands (DESIGN §9): when a renewal finds the
    /// claim taken, or no renewal has succeeded for a whole lease, the handler's future is dropped,
    /// so its provider call is abandoned and nothing after it is sent. Whatever the abandoned call
    /// did at the provider is an unknown outcome, which the next holder looks up before it creates.
    async fn run_renewing(
        &self,
        run: impl Future<Output = Attempt>,
        work: &ClaimedWork,
    ) -> Attempt {
        let lease = self.inner.settings.lease;
        let queue = &self.inner.queue;
        let renewing = async {
            let mut renew = tokio::time::interval(lease / 3);
            renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            renew.tick().await;
            let mut renewed_at = tokio::time::Instant::now();
            loop {
                renew.tick().await;
                match queue.renew(&work.claim, lease).await {
                    Ok(true) => {
                        renewed_at = tokio::time::Instant::now();
                        tracing::debug!("claim renewed");
                    }
                    Ok(false) => {
                        tracing::warn!(
                            "the claim was lost while the attempt ran; the attempt stops"
                        );
                        return;
                    }
                    Err(error) if renewed_at.elapsed() >= lease => {
                        tracing::warn!(
                            "cannot renew the claim for a whole lease ({error}); the attempt stops"
                        );
                        return;
                    }
                    Err(error) => tracing::warn!("cannot renew the claim: {error}"),
                }
            }
        };
        let attempt = tokio::select! {
            attempt = run => attempt,
            () = renewing => Attempt::Fenced,
        };
        if attempt == Attempt::Fenced {
            metrics::counter!("funding_work_claims_lost_total", "kind" => work.kind.as_str())
                .increment(1);
        }
        attempt
    }
}

#[cfg(test)]
mod tests;
