//! Tests of the [`Cipher`](super::Cipher): a sealed value opens only in its own slot and under the
//! key that sealed it, keys load from base64 and never show, key ids, and the two stored formats
//! (before and after key ids) across key rotation.

use super::*;

const ROW_A: Slot<'static> = Slot {
    table: "bank_links",
    column: "access_token",
    row_id: b"row-a",
};

#[test]
fn a_sealed_value_opens_in_its_own_slot() {
    let cipher = Cipher::generate();
    let sealed = cipher.seal(ROW_A, b"access-sandbox-secret").unwrap();
    assert_eq!(sealed[0], FORMAT_V2);
    assert_eq!(usize::from(sealed[1]), 8);
    assert_eq!(&sealed[2..10], cipher.key_id().as_bytes());
    assert_eq!(
        sealed.len(),
        2 + 8 + NONCE_LEN + b"access-sandbox-secret".len() + 16
    );
    assert_eq!(
        cipher.open(ROW_A, &sealed).unwrap(),
        b"access-sandbox-secret"
    );
}

#[test]
fn each_seal_uses_a_fresh_nonce() {
    let cipher = Cipher::generate();
    let first = cipher.seal(ROW_A, b"same").unwrap();
    let second = cipher.seal(ROW_A, b"same").unwrap();
    assert_ne!(first, second);
}

#[test]
fn a_sealed_value_does_not_open_in_another_row_or_column() {
    let cipher = Cipher::generate();
    let sealed = cipher.seal(ROW_A, b"secret").unwrap();
    let other_row = Slot {
        row_id: b"row-b",
        ..ROW_A
    };
    let other_column = Slot {
        column: "processor_token",
        ..ROW_A
    };
    assert_eq!(
        cipher.open(other_row, &sealed),
        Err(OpenError::Undecryptable)
    );
    assert_eq!(
        cipher.open(other_column, &sealed),
        Err(OpenError::Undecryptable)
    );
}

#[test]
fn a_sealed_value_does_not_open_under_another_key_or_damaged() {
    let sealer = Cipher::generate();
    let sealed = sealer.seal(ROW_A, b"secret").unwrap();
    assert_eq!(
        Cipher::generate().open(ROW_A, &sealed),
        Err(OpenError::UnknownKey(sealer.key_id().to_owned()))
    );
    let cipher = Cipher::generate();
    let mut sealed = cipher.seal(ROW_A, b"secret").unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    assert_eq!(cipher.open(ROW_A, &sealed), Err(OpenError::Undecryptable));
    assert_eq!(cipher.open(ROW_A, &[]), Err(OpenError::Undecryptable));
    assert_eq!(
        cipher.open(ROW_A, &[FORMAT_V1, 1, 2]),
        Err(OpenError::Undecryptable)
    );
    assert_eq!(cipher.open(ROW_A, &[9; 64]), Err(OpenError::Undecryptable));
}

#[test]
fn a_key_must_be_base64_of_32_bytes() {
    Cipher::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
    Cipher::from_base64(&format!(" {}\n", STANDARD.encode([7u8; 32]))).unwrap();
    for bad in [
        String::new(),
        "not base64!".to_owned(),
        STANDARD.encode([7u8; 31]),
        STANDARD.encode([7u8; 33]),
    ] {
        assert!(matches!(
            Cipher::from_base64(&bad),
            Err(CipherError::InvalidKey)
        ));
    }
}

#[test]
fn the_same_key_opens_what_it_sealed_after_a_reload() {
    let encoded = STANDARD.encode([42u8; 32]);
    let sealed = Cipher::from_base64(&encoded)
        .unwrap()
        .seal(ROW_A, b"secret")
        .unwrap();
    let reloaded = Cipher::from_base64(&encoded).unwrap();
    assert_eq!(reloaded.open(ROW_A, &sealed).unwrap(), b"secret");
}

#[test]
fn debug_never_shows_the_key() {
    let encoded = STANDARD.encode([0xABu8; 32]);
    let shown = format!("{:?}", Cipher::from_base64(&encoded).unwrap());
    assert!(!shown.contains(&encoded));
    assert!(!shown.to_lowercase().contains("abab"));
    assert!(shown.contains("REDACTED"));
    let error = Cipher::from_base64("c2VjcmV0").unwrap_err();
    assert!(!format!("{error} {error:?}").contains("c2VjcmV0"));
}

#[test]
fn a_key_id_is_eight_hex_digits_stable_per_key_and_not_the_key() {
    let encoded = STANDARD.encode([42u8; 32]);
    let one = Cipher::from_base64(&encoded).unwrap();
    let again = Cipher::from_base64(&encoded).unwrap();
    assert_eq!(one.key_id(), again.key_id());
    assert_eq!(one.key_id().len(), 8);
    assert!(one.key_id().chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(one.key_id(), Cipher::generate().key_id());
    assert!(!encoded.contains(one.key_id()));
}

#[test]
fn values_sealed_before_key_ids_still_open_with_the_current_or_an_old_key() {
    let first = Cipher::generate();
    let legacy = first.seal_v1(ROW_A, b"secret");
    assert_eq!(legacy[0], FORMAT_V1);
    assert_eq!(first.open(ROW_A, &legacy).unwrap(), b"secret");
    assert_eq!(Cipher::sealed_key_id(&legacy), None);
    let second = Cipher::generate().with_old_key(&first);
    assert_eq!(second.open(ROW_A, &legacy).unwrap(), b"secret");
    assert_eq!(
        Cipher::generate().open(ROW_A, &legacy),
        Err(OpenError::Undecryptable)
    );
}

#[test]
fn an_old_key_opens_what_it_sealed_and_the_current_key_seals() {
    let first = Cipher::generate();
    let sealed_first = first.seal(ROW_A, b"one").unwrap();
    let second = Cipher::generate().with_old_key(&first);
    assert_eq!(second.old_key_ids(), vec![first.key_id()]);
    assert_eq!(second.open(ROW_A, &sealed_first).unwrap(), b"one");
    let sealed_second = second.seal(ROW_A, b"two").unwrap();
    assert_eq!(
        Cipher::sealed_key_id(&sealed_second).as_deref(),
        Some(second.key_id())
    );
    // Adding a key twice, or the current key as an old one, changes nothing.
    let same = second.clone().with_old_key(&first).with_old_key(&second);
    assert_eq!(same.old_key_ids(), vec![first.key_id()]);
}

#[test]
fn a_value_under_a_key_that_is_not_held_names_the_key_id() {
    let first = Cipher::generate();
    let sealed = first.seal(ROW_A, b"secret").unwrap();
    let error = Cipher::generate().open(ROW_A, &sealed).unwrap_err();
    assert_eq!(error, OpenError::UnknownKey(first.key_id().to_owned()));
    let message = error.to_string();
    assert!(message.contains(first.key_id()), "{message}");
    assert!(!message.contains("secret"));
}

#[test]
fn the_key_id_in_the_header_cannot_be_swapped() {
    let first = Cipher::generate();
    let second = Cipher::generate().with_old_key(&first);
    let mut sealed = first.seal(ROW_A, b"secret").unwrap();
    // Claim the value is under the current key: it must not open.
    sealed[2..10].copy_from_slice(second.key_id().as_bytes());
    assert_eq!(second.open(ROW_A, &sealed), Err(OpenError::Undecryptable));
}
