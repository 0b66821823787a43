//! A request for Plaid's `/processor/bank_transfer/create`, built only valid. [`BankTransferDraft`]
//! holds the fields as a caller sent them; [`BankTransferRequest::parse`] checks every rule of the
//! endpoint at once (lengths, ACH class against type and network, currency, metadata limits, the
//! response-only `user.routing_number`) and reports every broken one, each under its field name.

use serde::Serialize;

use crate::{
    AchClass, Amount, BankTransferType, Currency, CustomTag, Description, EmailAddress,
    IdempotencyKey, LegalName, Metadata, Network, OriginationAccountId, ProcessorToken,
    ValidationError, ValidationErrors,
};

/// The person or business on the other side of a bank transfer, as a request carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BankTransferUser {
    legal_name: LegalName,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_address: Option<EmailAddress>,
}

impl BankTransferUser {
    pub fn new(legal_name: LegalName, email_address: Option<EmailAddress>) -> Self {
        Self {
            legal_name,
            email_address,
        }
    }

    pub fn legal_name(&self) -> &LegalName {
        &self.legal_name
    }

    pub fn email_address(&self) -> Option<&EmailAddress> {
        self.email_address.as_ref()
    }
}

/// The user as the caller sent it, unchecked. `routing_number` is here only to be refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BankTransferUserDraft {
    pub legal_name: String,
    pub email_address: Option<String>,
    pub routing_number: Option<String>,
}

/// Every field of `/processor/bank_transfer/create` as the caller sent it, unchecked.
/// Empty strings stand for "not given" in optional text fields, as in protobuf.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BankTransferDraft {
    pub idempotency_key: String,
    pub processor_token: String,
    pub transfer_type: String,
    pub network: String,
    pub amount: String,
    pub iso_currency_code: String,
    pub description: String,
    pub ach_class: Option<String>,
    pub user: BankTransferUserDraft,
    pub custom_tag: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub origination_account_id: Option<String>,
}

impl std::fmt::Debug for BankTransferDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BankTransferDraft")
            .field("idempotency_key", &self.idempotency_key)
            .field("processor_token", &"[REDACTED]")
            .field("transfer_type", &self.transfer_type)
            .field("network", &self.network)
            .field("amount", &self.amount)
            .finish_non_exhaustive()
    }
}

/// A valid `/processor/bank_transfer/create` request. It can only be obtained from [`BankTransferRequest::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankTransferRequest {
    idempotency_key: IdempotencyKey,
    processor_token: ProcessorToken,
    transfer_type: BankTransferType,
    network: Network,
    amount: Amount,
    currency: Currency,
    description: Description,
    ach_class: Option<AchClass>,
    user: BankTransferUser,
    custom_tag: Option<CustomTag>,
    metadata: Option<Metadata>,
    origination_account_id: Option<OriginationAccountId>,
}

fn given(text: &Option<String>) -> Option<&str> {
    text.as_deref().filter(|t| !t.is_empty())
}

impl BankTransferRequest {
    /// Checks every rule and returns every broken one.
    pub fn parse(draft: &BankTransferDraft) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let idempotency_key = errors.check(IdempotencyKey::parse(&draft.idempotency_key));
        let processor_token = errors.check(ProcessorToken::parse(&draft.processor_token));
        let transfer_type = errors.check(BankTransferType::parse(&draft.transfer_type));
        let network = errors.check(Network::parse(&draft.network));
        let amount = errors.check(Amount::parse(&draft.amount));
        let currency = errors.check(Currency::parse(&draft.iso_currency_code));
        let description = errors.check(Description::parse(&draft.description));
        let ach_class = match given(&draft.ach_class) {
            Some(text) => errors.check(AchClass::parse(text)).map(Some),
            None => Some(None),
        };
        let legal_name = errors
            .check(LegalName::parse(&draft.user.legal_name).map_err(|e| e.at("user.legal_name")));
        let email_address = match given(&draft.user.email_address) {
            Some(text) => errors
                .check(EmailAddress::parse(text).map_err(|e| e.at("user.email_address")))
                .map(Some),
            None => Some(None),
        };
        if draft.user.routing_number.is_some() {
            errors.push(ValidationError::new(
                "user.routing_number",
                "is set by Plaid in responses and must not be sent",
            ));
        }
        let custom_tag = match given(&draft.custom_tag) {
            Some(text) => errors.check(CustomTag::parse(text)).map(Some),
            None => Some(None),
        };
        let metadata = if draft.metadata.is_empty() {
            Some(None)
        } else {
            match Metadata::parse(draft.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                Ok(metadata) => Some(Some(metadata)),
                Err(found) => {
                    found.into_iter().for_each(|e| errors.push(e));
                    None
                }
            }
        };
        let origination_account_id = match given(&draft.origination_account_id) {
            Some(text) => errors.check(OriginationAccountId::parse(text)).map(Some),
            None => Some(None),
        };

        if let (Some(network), Some(ach_class)) = (network, ach_class)
            && network.is_ach()
            && ach_class.is_none()
        {
            errors.push(ValidationError::new(
                "ach_class",
                format!("is required on the {network} network"),
            ));
        }
        if let (Some(transfer_type), Some(Some(class))) = (transfer_type, ach_class)
            && !class.allows(transfer_type)
        {
            let allowed: Vec<_> = AchClass::allowed_for(transfer_type)
                .iter()
                .map(AchClass::as_str)
                .collect();
            errors.push(ValidationError::new(
                "ach_class",
                format!(
                    "{class} is not allowed for a {transfer_type}; use one of {}",
                    allowed.join(", ")
                ),
            ));
        }

        match (
            idempotency_key,
            processor_token,
            transfer_type,
            network,
            amount,
            currency,
            description,
            ach_class,
            legal_name,
            email_address,
            custom_tag,
            metadata,
            origination_account_id,
        ) {
            (
                Some(idempotency_key),
                Some(processor_token),
                Some(transfer_type),
                Some(network),
                Some(amount),
                Some(currency),
                Some(description),
                Some(ach_class),
                Some(legal_name),
                Some(email_address),
                Some(custom_tag),
                Some(metadata),
                Some(origination_account_id),
            ) if errors.is_empty() => Ok(Self {
                idempotency_key,
                processor_token,
                transfer_type,
                network,
                amount,
                currency,
                description,
                ach_class,
                user: BankTransferUser::new(legal_name, email_address),
                custom_tag,
                metadata,
                origination_account_id,
            }),
            _ => Err(errors),
        }
    }

    /// The request as fields again, exactly as [`BankTransferRequest::parse`] reads them back (so a
    /// stored request is rebuilt, and checked again, the same way a caller's is).
    pub fn to_draft(&self) -> BankTransferDraft {
        BankTransferDraft {
            idempotency_key: self.idempotency_key.as_str().to_owned(),
            processor_token: self.processor_token.expose_secret().to_owned(),
            transfer_type: self.transfer_type.as_str().to_owned(),
            network: self.network.as_str().to_owned(),
            amount: self.amount.to_string(),
            iso_currency_code: self.currency.as_str().to_owned(),
            description: self.description.as_str().to_owned(),
            ach_class: self.ach_class.map(|class| class.as_str().to_owned()),
            user: BankTransferUserDraft {
                legal_name: self.user.legal_name.as_str().to_owned(),
                email_address: self
                    .user
                    .email_address
                    .as_ref()
                    .map(|email| email.as_str().to_owned()),
                routing_number: None,
            },
            custom_tag: self.custom_tag.as_ref().map(|tag| tag.as_str().to_owned()),
            metadata: self
                .metadata
                .as_ref()
                .map(|metadata| {
                    metadata
                        .iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            origination_account_id: self
                .origination_account_id
                .as_ref()
                .map(|id| id.as_str().to_owned()),
        }
    }

    pub fn idempotency_key(&self) -> &IdempotencyKey {
        &self.idempotency_key
    }
    pub fn processor_token(&self) -> &ProcessorToken {
        &self.processor_token
    }
    pub fn transfer_type(&self) -> BankTransferType {
        self.transfer_type
    }
    pub fn network(&self) -> Network {
        self.network
    }
    pub fn amount(&self) -> Amount {
        self.amount
    }
    pub fn currency(&self) -> Currency {
        self.currency
    }
    pub fn description(&self) -> &Description {
        &self.description
    }
    pub fn ach_class(&self) -> Option<AchClass> {
        self.ach_class
    }
    pub fn user(&self) -> &BankTransferUser {
        &self.user
    }
    pub fn custom_tag(&self) -> Option<&CustomTag> {
        self.custom_tag.as_ref()
    }
    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_ref()
    }
    pub fn origination_account_id(&self) -> Option<&OriginationAccountId> {
        self.origination_account_id.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> BankTransferDraft {
        BankTransferDraft {
            idempotency_key: "key-1".into(),
            processor_token: "processor-sandbox-0asd1-a92nc".into(),
            transfer_type: "debit".into(),
            network: "ach".into(),
            amount: "12.34".into(),
            iso_currency_code: "USD".into(),
            description: "Deposit".into(),
            ach_class: Some("web".into()),
            user: BankTransferUserDraft {
                legal_name: "John Smith".into(),
                email_address: Some("plaid@plaid.com".into()),
                routing_number: None,
            },
            custom_tag: Some("my tag".into()),
            metadata: vec![("key1".into(), "value1".into())],
            origination_account_id: None,
        }
    }

    fn refused(draft: &BankTransferDraft) -> ValidationErrors {
        BankTransferRequest::parse(draft).unwrap_err()
    }

    #[test]
    fn a_request_read_back_from_its_draft_is_the_same_request() {
        let request = BankTransferRequest::parse(&valid()).unwrap();
        assert_eq!(
            BankTransferRequest::parse(&request.to_draft()).unwrap(),
            request
        );
        let mut bare = valid();
        bare.custom_tag = None;
        bare.metadata.clear();
        bare.user.email_address = None;
        bare.origination_account_id = None;
        let request = BankTransferRequest::parse(&bare).unwrap();
        assert_eq!(
            BankTransferRequest::parse(&request.to_draft()).unwrap(),
            request
        );
    }

    #[test]
    fn a_complete_request_is_accepted() {
        let request = BankTransferRequest::parse(&valid()).unwrap();
        assert_eq!(request.amount().to_string(), "12.34");
        assert_eq!(request.ach_class(), Some(AchClass::Web));
        assert_eq!(request.user().legal_name().as_str(), "John Smith");
        assert_eq!(request.metadata().unwrap().get("key1"), Some("value1"));
    }

    #[test]
    fn boundary_values_are_accepted() {
        let mut draft = valid();
        draft.idempotency_key = "k".repeat(50);
        draft.description = "0123456789".into();
        draft.custom_tag = Some("t".repeat(100));
        draft.amount = "0.01".into();
        draft.metadata = (0..50)
            .map(|i| (format!("{i:0>40}"), "v".repeat(500)))
            .collect();
        let request = BankTransferRequest::parse(&draft).unwrap();
        assert_eq!(request.metadata().unwrap().len(), 50);
    }

    #[test]
    fn ach_class_is_required_on_ach_and_same_day_ach() {
        for network in ["ach", "same-day-ach"] {
            let mut draft = valid();
            draft.network = network.into();
            draft.ach_class = None;
            assert!(refused(&draft).names("ach_class"), "{network}");
        }
        let mut draft = valid();
        draft.network = "wire".into();
        draft.ach_class = None;
        assert_eq!(
            BankTransferRequest::parse(&draft).unwrap().ach_class(),
            None
        );
    }

    #[test]
    fn the_ach_class_must_suit_the_transfer_type() {
        for (transfer_type, class) in [("credit", "web"), ("credit", "tel"), ("debit", "ppd")] {
            let mut draft = valid();
            draft.transfer_type = transfer_type.into();
            draft.ach_class = Some(class.into());
            let errors = refused(&draft);
            assert!(errors.names("ach_class"), "{transfer_type} {class}");
        }
        for (transfer_type, class) in [
            ("credit", "ccd"),
            ("credit", "ppd"),
            ("debit", "ccd"),
            ("debit", "tel"),
            ("debit", "web"),
        ] {
            let mut draft = valid();
            draft.transfer_type = transfer_type.into();
            draft.ach_class = Some(class.into());
            BankTransferRequest::parse(&draft).unwrap();
        }
    }

    #[test]
    fn a_routing_number_in_the_request_is_refused() {
        let mut draft = valid();
        draft.user.routing_number = Some("111111111".into());
        assert!(refused(&draft).names("user.routing_number"));
    }

    #[test]
    fn a_legal_name_is_required_and_an_email_must_be_valid() {
        let mut draft = valid();
        draft.user.legal_name = String::new();
        draft.user.email_address = Some("not-an-email".into());
        let errors = refused(&draft);
        assert!(errors.names("user.legal_name"));
        assert!(errors.names("user.email_address"));
        let mut draft = valid();
        draft.user.email_address = None;
        BankTransferRequest::parse(&draft).unwrap();
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let draft = BankTransferDraft {
            idempotency_key: "k".repeat(51),
            processor_token: "access-sandbox-x".into(),
            transfer_type: "refund".into(),
            network: "rtp".into(),
            amount: "10.001".into(),
            iso_currency_code: "EUR".into(),
            description: "01234567890".into(),
            ach_class: Some("iat".into()),
            user: BankTransferUserDraft {
                legal_name: String::new(),
                email_address: Some("x".into()),
                routing_number: Some("1".into()),
            },
            custom_tag: Some("t".repeat(101)),
            metadata: vec![("k".repeat(41), "v".into())],
            origination_account_id: Some("bad id".into()),
        };
        let errors = refused(&draft);
        for field in [
            "idempotency_key",
            "processor_token",
            "type",
            "network",
            "amount",
            "iso_currency_code",
            "description",
            "ach_class",
            "user.legal_name",
            "user.email_address",
            "user.routing_number",
            "custom_tag",
            "metadata",
            "origination_account_id",
        ] {
            assert!(errors.names(field), "{field} not named in {errors}");
        }
    }

    #[test]
    fn the_draft_debug_hides_the_processor_token() {
        assert!(!format!("{:?}", valid()).contains("0asd1"));
        let request = BankTransferRequest::parse(&valid()).unwrap();
        assert!(!format!("{request:?}").contains("0asd1"));
    }
}
