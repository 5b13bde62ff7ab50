//! AWS Signature Version 4 for Bedrock requests, via the `aws-sigv4` crate.
//!
//! Credentials come from the provider's API key, written
//! `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]` (none of the three ever contains `:`).
//! The signature covers the method, the path (double-encoded, as AWS SDKs do for every service
//! but S3), the `host`, `content-type`, `accept` and `x-amz-date` headers and the SHA-256 of
//! the body. The resulting headers (`authorization`, `x-amz-date`, and `x-amz-security-token`
//! for temporary credentials) are marked sensitive so they never reach logs.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use crate::ProviderError;

/// The SigV4 service name of the Bedrock runtime.
pub const SERVICE: &str = "bedrock";

/// Signs requests for one region with one set of credentials.
pub(crate) struct Signer {
    creds: Credentials,
    region: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Parse `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`.
    pub(crate) fn new(key: &SecretString, region: &str) -> Result<Self, ProviderError> {
        let mut parts = key.expose_secret().trim().splitn(3, ':');
        let (Some(id), Some(secret)) = (parts.next(), parts.next()) else {
            return Err(ProviderError::internal(
                "Bedrock credentials must be `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`",
            ));
        };
        if id.is_empty() || secret.is_empty() {
            return Err(ProviderError::internal(
                "Bedrock access key id or secret is empty",
            ));
        }
        let token = parts.next().filter(|t| !t.is_empty()).map(str::to_owned);
        let creds = Credentials::new(id, secret, token, None, "switchyard-config");
        Ok(Signer {
            creds,
            region: region.to_owned(),
        })
    }

    /// The signing region.
    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// The headers to add to a request to `url` with these headers and body.
    pub(crate) fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ProviderError> {
        let fail = |e: &dyn std::fmt::Display| {
            ProviderError::internal(format!("SigV4 signing failed: {e}"))
        };
        let identity = self.creds.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| fail(&e))?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| fail(&e))?;
        let (instructions, _signature) = sign(request, &params).map_err(|e| fail(&e))?.into_parts();
        let (signed, _query) = instructions.into_parts();
        let mut out = Vec::with_capacity(signed.len());
        for h in signed {
            let name = HeaderName::from_static(h.name());
            let mut value = HeaderValue::from_str(h.value()).map_err(|e| fail(&e))?;
            value.set_sensitive(true);
            out.push((name, value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn header<'a>(h: &'a [(HeaderName, HeaderValue)], name: &str) -> Option<&'a str> {
        h.iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    /// `get-vanilla` from the AWS SigV4 test suite (AKIDEXAMPLE, 2015-08-30T12:36:00Z,
    /// us-east-1, service `service`).
    #[test]
    fn aws_test_suite_get_vanilla() {
        let key = SecretString::from("AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let s = Signer::new(&key, "us-east-1").unwrap();
        let identity = s.creds.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("service")
            .time(at(1_440_938_160))
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let req = SignableRequest::new(
            "GET",
            "https://example.amazonaws.com/",
            std::iter::empty(),
            SignableBody::Bytes(&[]),
        )
        .unwrap();
        let (_, signature) = sign(req, &params).unwrap().into_parts();
        assert_eq!(
            signature,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn bedrock_headers_are_present_stable_and_sensitive() {
        let key = SecretString::from("AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let s = Signer::new(&key, "eu-west-1").unwrap();
        let url = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
        let headers = [("content-type", "application/json")];
        let a = s
            .sign("POST", url, &headers, b"{}", at(1_700_000_000))
            .unwrap();
        let b = s
            .sign("POST", url, &headers, b"{}", at(1_700_000_000))
            .unwrap();
        assert_eq!(a, b, "same input, same signature");
        let auth = header(&a, "authorization").unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature="
            ),
            "{auth}"
        );
        assert_eq!(header(&a, "x-amz-date"), Some("20231114T221320Z"));
        assert!(a.iter().all(|(_, v)| v.is_sensitive()));
        // A different body or time changes the signature.
        let c = s
            .sign("POST", url, &headers, b"{ }", at(1_700_000_000))
            .unwrap();
        assert_ne!(header(&a, "authorization"), header(&c, "authorization"));
        assert!(!format!("{s:?}").contains("wJalr"));
    }

    #[test]
    fn session_token_is_sent() {
        let key = SecretString::from("AKID:SECRET:TOKEN/with+base64=");
        let s = Signer::new(&key, "us-east-1").unwrap();
        let h = s
            .sign(
                "POST",
                "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse",
                &[],
                b"",
                at(0),
            )
            .unwrap();
        assert_eq!(
            header(&h, "x-amz-security-token"),
            Some("TOKEN/with+base64=")
        );
        assert!(Signer::new(&SecretString::from("only-one-part"), "us-east-1").is_err());
        assert!(Signer::new(&SecretString::from(":secret"), "us-east-1").is_err());
    }
}
