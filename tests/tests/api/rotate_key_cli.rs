//! `fundingd rotate-key` as operators run it: the real binary, against the database of a running
//! service, moves every sealed token from key 1 to key 2. The tokens then read back with key 2
//! alone, no longer with key 1 alone, and a second run finds nothing left to do.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use base64::Engine as _;
use funding_core::ports::LinkSecretStore as _;
use funding_domain::BankLinkId;
use funding_store::{Cipher, Store};
use funding_tests::process::output_off_runtime;
use funding_tests::{AppOptions, TestApp};

/// Runs `fundingd rotate-key` with the service's database and key; its exit status and stdout.
/// The service keeps writing meanwhile, and on SQLite a rotation batch can then meet "database is
/// locked"; the rotation says to run it again, which
/// resumes where it stopped, as an operator would (at most three runs).
async fn rotate(app: &TestApp, new_key: &std::path::Path) -> (bool, String) {
    let mut last = String::new();
    for _ in 0..3 {
        let (ok, stdout, stderr) = rotate_once(app, new_key).await;
        if ok {
            return (true, stdout);
        }
        assert!(
            stderr.contains("run it again to resume"),
            "rotate-key failed for good: {stdout}\n{stderr}"
        );
        last = format!("{stdout}\n{stderr}");
    }
    panic!("rotate-key failed three times: {last}");
}

/// Off the runtime's thread, which runs the service ([`output_off_runtime`]).
async fn rotate_once(app: &TestApp, new_key: &std::path::Path) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fundingd-under-test"));
    command
        .args(["rotate-key", "--new-key-file"])
        .arg(new_key)
        .args(["--batch-size", "1"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FUNDING_DATABASE_URL", &app.database_url)
        .env(
            "FUNDING_ENCRYPTION_KEY_FILE",
            app.dir.path().join("funding.key"),
        );
    let output = output_off_runtime(command).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stdout, stderr)
}

/// The link's tokens as a store with `cipher` reads them.
async fn tokens(app: &TestApp, cipher: Cipher, link: BankLinkId) -> Result<[String; 2], String> {
    let store = Store::connect(&app.database_url, cipher)
        .await
        .map_err(|e| e.to_string())?;
    let secrets = store.link_secrets(link).await.map_err(|e| e.to_string());
    let _ = store.close().await;
    let secrets = secrets?;
    Ok([
        secrets
            .access_token
            .map(|t| t.expose_secret().to_owned())
            .unwrap_or_default(),
        secrets
            .processor_token
            .map(|t| t.expose_secret().to_owned())
            .unwrap_or_default(),
    ])
}

#[tokio::test]
async fn rotate_key_moves_every_token_to_the_new_key() {
    // The service runs (its engine, stream readers and sweeps write as usual); its reconciler,
    // which on SQLite would take the write lock five times a second here, runs only when asked,
    // so that the rotation beside it is not starved of the lock on a loaded machine.
    let app = TestApp::spawn_with(AppOptions {
        reconcile_by_hand: true,
        ..AppOptions::default()
    })
    .await;
    let (_, link) = app.approved_link().await;
    let link: BankLinkId = link.id.parse().expect("a link id");
    let key_1 = app.dir.path().join("funding.key");
    let before = tokens(&app, Cipher::load_private(&key_1).unwrap(), link)
        .await
        .expect("key 1 reads the tokens");
    assert!(
        before.iter().all(|t| !t.is_empty()),
        "the link holds both tokens"
    );

    let key_2 = app.dir.path().join("funding-2.key");
    let mut bytes = uuid::Uuid::new_v4().into_bytes().to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    std::fs::write(
        &key_2,
        base64::engine::general_purpose::STANDARD.encode(&bytes),
    )
    .unwrap();
    std::fs::set_permissions(&key_2, std::fs::Permissions::from_mode(0o600)).unwrap();
    let new_id = Cipher::load_private(&key_2).unwrap().key_id().to_owned();

    let (_, first) = rotate(&app, &key_2).await;
    assert!(first.contains("rotation complete"), "{first}");
    assert!(
        !first.contains(&before[0]) && !first.contains(&before[1]),
        "no token is printed"
    );

    let after = tokens(&app, Cipher::load_private(&key_2).unwrap(), link)
        .await
        .expect("key 2 alone reads the tokens");
    assert_eq!(after, before);
    let with_key_1 = tokens(&app, Cipher::load_private(&key_1).unwrap(), link).await;
    let refusal = with_key_1.expect_err("key 1 alone no longer opens them");
    assert!(
        refusal.contains(&new_id),
        "the refusal names the key id: {refusal}"
    );

    let (_, second) = rotate(&app, &key_2).await;
    assert!(
        second.contains("rotation complete: 0 values re-encrypted"),
        "a second run has nothing left to do: {second}"
    );
    app.stop().await;
}
