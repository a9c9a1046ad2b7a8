//! The certificate method: the bundle's chain (leaf first) must lead to a
//! CA of the signer's entry and be valid now; the leaf must be for code
//! signing (an extended key usage naming it; upstream only warns when there
//! is none) with a key usage that allows digital signatures, and name an
//! accepted identity. Chain building and validity are webpki's (the
//! verifier rustls uses); the leaf's names and key usage are read with
//! x509-parser.

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, Error, KeyUsage};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::trust::{PublicKey, Signer};
use crate::domain::pattern::Pattern;

/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER content bytes.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// The refusal of a certificate whose extended key usage lacks code signing.
const NOT_FOR_CODE_SIGNING: &str =
    "the signing certificate is not for code signing (its extended key usage)";

/// A leaf certificate that passed: who it names and its key.
pub struct Leaf {
    /// The identity recorded as signer: its first e-mail or URI
    /// alternative name, else its common name.
    pub identity: String,
    /// Its public key, which must verify the envelope.
    pub key: PublicKey,
}

/// Checks `chain` (DER, leaf first) against the CAs `roots` and the
/// accepted `identities` at `now`.
pub fn verify_chain(
    chain: &[Vec<u8>],
    roots: &[Vec<u8>],
    identities: Option<&[Pattern]>,
    now: UnixTime,
) -> Result<Leaf, String> {
    let (leaf_der, intermediates) = chain.split_first().ok_or("the chain is empty")?;
    let leaf_der = CertificateDer::from(leaf_der.as_slice());
    let end_entity = EndEntityCert::try_from(&leaf_der)
        .map_err(|e| format!("the signing certificate cannot be read: {e:?}"))?;
    let anchors = roots
        .iter()
        .filter_map(|root| {
            webpki::anchor_from_trusted_cert(&CertificateDer::from(root.as_slice()))
                .ok()
                .map(|anchor| anchor.to_owned())
        })
        .collect::<Vec<_>>();
    let intermediates = intermediates
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect::<Vec<_>>();
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            now,
            // Intermediates often carry no extended key usage; the leaf's
            // is required below.
            KeyUsage::required_if_present(CODE_SIGNING),
            None,
            None,
        )
        .map_err(|error| describe(&error))?;
    let (_, leaf) = X509Certificate::from_der(&leaf_der)
        .map_err(|e| format!("the signing certificate cannot be read: {e}"))?;
    if !matches!(leaf.extended_key_usage(), Ok(Some(usage)) if usage.value.code_signing) {
        return Err(NOT_FOR_CODE_SIGNING.to_owned());
    }
    if let Ok(Some(usage)) = leaf.key_usage()
        && !usage.value.digital_signature()
    {
        return Err(
            "the signing certificate's key usage does not allow digital signatures".to_owned(),
        );
    }
    let identity = identity_of(&leaf).ok_or("the signing certificate names no one")?;
    if let Some(accepted) = identities
        && !accepted.iter().any(|pattern| pattern.matches(&identity))
    {
        return Err(format!(
            "the signing certificate names {identity:?}, which is not among the identities \
             trusted for this model"
        ));
    }
    let key = PublicKey::from_spki_der(leaf.public_key().raw)
        .ok_or("the signing certificate's key is not EC P-256 or P-384")?;
    Ok(Leaf { identity, key })
}

/// Its first e-mail or URI alternative name, else its common name.
fn identity_of(leaf: &X509Certificate<'_>) -> Option<String> {
    if let Ok(Some(names)) = leaf.subject_alternative_name() {
        for name in &names.value.general_names {
            match name {
                GeneralName::RFC822Name(email) => return Some((*email).to_owned()),
                GeneralName::URI(uri) => return Some((*uri).to_owned()),
                _ => {}
            }
        }
    }
    leaf.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

/// What a chain failure means to the person who signed.
fn describe(error: &Error) -> String {
    match error {
        Error::CertExpired { .. } => "the signing certificate has expired".to_owned(),
        Error::CertNotValidYet { .. } => "the signing certificate is not valid yet".to_owned(),
        Error::UnknownIssuer => {
            "the signing certificate does not chain to a CA trusted for this model".to_owned()
        }
        Error::RequiredEkuNotFoundContext(_) => NOT_FOR_CODE_SIGNING.to_owned(),
        Error::CaUsedAsEndEntity => "the signing certificate is a CA's".to_owned(),
        other => format!("the signing certificate does not verify: {other:?}"),
    }
}

/// The first signer among `signers` whose CAs vouch for `chain` at `now`,
/// with the leaf; else the reason the last one refused.
pub fn vouched<'a>(
    chain: &[Vec<u8>],
    signers: &[&'a Signer],
    now: UnixTime,
) -> Result<(&'a Signer, Leaf), String> {
    let mut why = "no [[signer]] with a ca_file covers this model".to_owned();
    for signer in signers {
        if let super::trust::Anchor::Authorities { roots, identities } = &signer.anchor {
            match verify_chain(chain, roots, identities.as_deref(), now) {
                Ok(leaf) => return Ok((signer, leaf)),
                Err(reason) => why = reason,
            }
        }
    }
    Err(why)
}
