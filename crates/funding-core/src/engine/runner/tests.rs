//! The claim's fence in the engine itself: a handler whose claim is lost mid-call stops there.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use async_trait::async_trait;

use super::*;
use crate::ports::{Claim, NewWork, WorkStats};

/// A queue holding one claimed piece of work, whose renewals answer as `renewal` says.
struct OneWork {
    renewal: Mutex<Result<bool, ()>>,
    renewals: AtomicU32,
    settled: Mutex<Vec<&'static str>>,
}

impl OneWork {
    fn new(renewal: Result<bool, ()>) -> Arc<Self> {
        Arc::new(Self {
            renewal: Mutex::new(renewal),
            renewals: AtomicU32::new(0),
            settled: Mutex::new(Vec::new()),
        })
    }
    fn settle(&self, how: &'static str) -> Result<bool, StoreError> {
        self.settled.lock().unwrap().push(how);
        Ok(true)
    }
}

#[async_trait]
impl WorkQueue for OneWork {
    async fn enqueue(&self, _: NewWork) -> Result<(), StoreError> {
        Ok(())
    }
    async fn claim_due(
        &self,
        _: &str,
        _: Duration,
        _: u32,
    ) -> Result<Vec<ClaimedWork>, StoreError> {
        Ok(Vec::new())
    }
    async fn claim(
        &self,
        kind: WorkKind,
        subject_id: Uuid,
        owner: &str,
        _: Duration,
    ) -> Result<Option<ClaimedWork>, StoreError> {
        Ok(Some(ClaimedWork {
            claim: Claim {
                work_id: Uuid::nil(),
                generation: 1,
                owner: owner.to_owned(),
            },
            kind,
            subject_id,
            attempt: 1,
            max_attempts: 5,
            last_error: None,
        }))
    }
    async fn renew(&self, _: &Claim, _: Duration) -> Result<bool, StoreError> {
        self.renewals.fetch_add(1, Ordering::SeqCst);
        (*self.renewal.lock().unwrap())
            .map_err(|()| StoreError::Unavailable("the database is away".into()))
    }
    async fn finish(&self, _: &Claim) -> Result<bool, StoreError> {
        self.settle("finish")
    }
    async fn retry_later(
        &self,
        _: &Claim,
        _: Duration,
        _: &str,
        _: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.settle("retry_later")
    }
    async fn waiting(
        &self,
        _: WorkKind,
        _: Uuid,
    ) -> Result<Option<crate::ports::WorkWaiting>, StoreError> {
        Ok(None)
    }
    async fn postpone(&self, _: &Claim, _: Duration, _: &str) -> Result<bool, StoreError> {
        self.settle("postpone")
    }
    async fn give_up(&self, _: &Claim, _: &str) -> Result<bool, StoreError> {
        self.settle("give_up")
    }
    async fn stats(&self) -> Result<WorkStats, StoreError> {
        Ok(WorkStats::default())
    }
}

/// A handler making two provider calls, each taking `call` of (paused) time; records each send.
struct TwoCalls {
    call: Duration,
    sent: AtomicU32,
    finished: AtomicBool,
}

#[async_trait]
impl WorkHandler for TwoCalls {
    async fn run(&self, _: &ClaimedWork) -> Attempt {
        for _ in 0..2 {
            self.sent.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.call).await;
        }
        self.finished.store(true, Ordering::SeqCst);
        Attempt::Done
    }
    async fn give_up(&self, _: &ClaimedWork, _: &str) -> Attempt {
        Attempt::Done
    }
}

async fn run_once(queue: Arc<OneWork>, call: Duration) -> (Attempt, Arc<TwoCalls>) {
    let engine = Engine::new(
        queue,
        EngineSettings {
            lease: Duration::from_secs(30),
            ..EngineSettings::default()
        },
    );
    let handler = Arc::new(TwoCalls {
        call,
        sent: AtomicU32::new(0),
        finished: AtomicBool::new(false),
    });
    engine.register(WorkKind::TransferSubmit, handler.clone());
    let attempt = engine
        .drive_now(WorkKind::TransferSubmit, Uuid::nil())
        .await
        .unwrap()
        .unwrap();
    (attempt, handler)
}

#[tokio::test(start_paused = true)]
async fn a_claim_lost_mid_call_stops_the_attempt_before_its_next_call() {
    let queue = OneWork::new(Ok(false));
    // Each call outlasts a renewal (every 10 s): the first renewal finds the claim gone.
    let (attempt, handler) = run_once(queue.clone(), Duration::from_secs(25)).await;
    assert_eq!(attempt, Attempt::Fenced);
    assert_eq!(
        handler.sent.load(Ordering::SeqCst),
        1,
        "nothing is sent after the claim is lost"
    );
    assert!(!handler.finished.load(Ordering::SeqCst));
    assert!(
        queue.settled.lock().unwrap().is_empty(),
        "a fenced attempt settles nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn renewals_that_fail_for_a_whole_lease_stop_the_attempt() {
    let queue = OneWork::new(Err(()));
    let (attempt, handler) = run_once(queue.clone(), Duration::from_secs(25)).await;
    assert_eq!(attempt, Attempt::Fenced);
    assert_eq!(
        handler.sent.load(Ordering::SeqCst),
        2,
        "the second call starts before a lease has passed"
    );
    assert!(
        !handler.finished.load(Ordering::SeqCst),
        "it never gets past the lease"
    );
    assert!(queue.renewals.load(Ordering::SeqCst) >= 3);
}

#[tokio::test(start_paused = true)]
async fn a_claim_still_held_lets_a_slow_attempt_finish() {
    let queue = OneWork::new(Ok(true));
    let (attempt, handler) = run_once(queue.clone(), Duration::from_secs(25)).await;
    assert_eq!(attempt, Attempt::Done);
    assert_eq!(handler.sent.load(Ordering::SeqCst), 2);
    assert_eq!(*queue.settled.lock().unwrap(), vec!["finish"]);
}
